# tests/serve: hc-serve driven by real clients (curl, the openai npm client); see README.md.
