// SPDX-License-Identifier: MIT
/*
 * hc-smi --cdi: a Container Device Interface spec (CDI 0.6.0) naming every card, so podman,
 * containerd (and through them Kubernetes) hand cards to containers:
 *	hc-smi --cdi > /etc/cdi/hc.json;  podman run --device hc/card=0 ...
 * A kernel card is its device node; an emulated card is hc-emud's socket, bind-mounted. Both
 * also set HC_DEVICE, so libhc in the container opens exactly the card it was given.
 */
#include <errno.h>
#include <string.h>
#include <jansson.h>
#include "smi.h"

static json_t *card_edits(const struct smi_card *c)
{
	char path[HC_URI_MAX], env[HC_URI_MAX + 16];
	enum hc_backend be;
	json_t *edits = json_object();

	if (!edits || hc_parse_uri(c->uri, &be, path, sizeof(path)))
		return json_decref(edits), NULL;
	snprintf(env, sizeof(env), "HC_DEVICE=%s", c->uri);
	if (json_object_set_new(edits, "env", json_pack("[s]", env)))
		return json_decref(edits), NULL;
	if (be == HC_BACKEND_EMU) {
		if (json_object_set_new(edits, "mounts",
					json_pack("[{s:s, s:s, s:[s]}]", "hostPath", path,
						  "containerPath", path, "options", "bind")))
			return json_decref(edits), NULL;
	} else if (json_object_set_new(edits, "deviceNodes", json_pack("[{s:s}]", "path", path))) {
		return json_decref(edits), NULL;
	}
	return edits;
}

int smi_print_cdi(FILE *f, const struct smi_snapshot *s)
{
	json_t *root = json_pack("{s:s, s:s, s:[]}", "cdiVersion", "0.6.0", "kind", "hc/card",
				 "devices");
	json_t *devs = root ? json_object_get(root, "devices") : NULL;
	int bad = !devs;

	for (int i = 0; !bad && i < s->n; i++) {
		json_t *edits = card_edits(&s->cards[i]);
		char name[16];

		snprintf(name, sizeof(name), "%d", s->cards[i].index);
		bad = !edits || json_array_append_new(devs, json_pack("{s:s, s:o}", "name", name,
								      "containerEdits", edits));
	}
	if (!bad)
		bad = json_dumpf(root, f, JSON_INDENT(2)) || fputc('\n', f) == EOF;
	json_decref(root);
	return bad ? -ENOMEM : 0;
}
