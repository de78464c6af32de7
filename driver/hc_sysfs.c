// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: sysfs attributes of the PCI device (directory hc/), one value per file
 * (docs/ABI/sysfs-driver-hc_accel). Identity and limits are the values read at probe;
 * counters are read live from the card's telemetry, plus the driver's own counters.
 */
#include <linux/device.h>
#include <linux/pci.h>
#include <linux/sysfs.h>
#include <drm/drm_drv.h>

#include "hc_hw.h"

static struct hc_device *hc_dev(struct device *dev)
{
	return pci_get_drvdata(to_pci_dev(dev));
}

#define HC_ATTR_IDENT(name, fmt, expr)						\
static ssize_t name##_show(struct device *dev, struct device_attribute *attr, char *buf) \
{										\
	struct hc_device *hdev = hc_dev(dev);					\
	return sysfs_emit(buf, fmt "\n", expr);					\
}										\
static DEVICE_ATTR_RO(name)

/* Values read from card memory: only while the device is still there. */
#define HC_ATTR_LIVE(name, fmt, type, expr)					\
static ssize_t name##_show(struct device *dev, struct device_attribute *attr, char *buf) \
{										\
	struct hc_device *hdev = hc_dev(dev);					\
	type v;									\
	int idx;								\
										\
	if (!drm_dev_enter(&hdev->drm, &idx))					\
		return -ENODEV;							\
	v = (expr);								\
	drm_dev_exit(idx);							\
	return sysfs_emit(buf, fmt "\n", v);					\
}										\
static DEVICE_ATTR_RO(name)

#define HC_ATTR_TELEMETRY(name, field)						\
	HC_ATTR_LIVE(name, "%llu", u64, READ_ONCE(hdev->regs->telemetry.field))

#define HC_ATTR_COUNTER(name)							\
	HC_ATTR_IDENT(name, "%lld", (long long)atomic64_read(&hdev->name))

HC_ATTR_IDENT(model_name, "%s", hdev->ident.model_name);
HC_ATTR_IDENT(model_identity, "%32phN", hdev->ident.model_identity);
HC_ATTR_IDENT(interface_version, "%u", hdev->ident.version);
HC_ATTR_IDENT(vocab_size, "%u", hdev->ident.vocab_size);
HC_ATTR_IDENT(n_contexts, "%u", hdev->ident.n_contexts);
HC_ATTR_IDENT(max_contexts, "%u", hdev->max_contexts_per_file);
HC_ATTR_IDENT(max_ctx_len, "%u", hdev->ident.max_ctx_len);
HC_ATTR_IDENT(max_stream_entries, "%u", hdev->ident.max_stream_entries);
HC_ATTR_IDENT(max_prefill_tokens, "%u", hdev->ident.max_prefill_tokens);
HC_ATTR_IDENT(stream_mem_bytes, "%llu", hdev->ident.data_size);
HC_ATTR_LIVE(card_status, "%u", u32, hc_hw_status(hdev));
HC_ATTR_LIVE(heartbeat, "%llu", u64, hc_hw_heartbeat(hdev));
HC_ATTR_IDENT(contexts_open, "%d", atomic_read(&hdev->n_ctx));
HC_ATTR_IDENT(jobs_inflight, "%d", atomic_read(&hdev->inflight));
HC_ATTR_IDENT(mem_used_bytes, "%llu", READ_ONCE(hdev->mem_used));
HC_ATTR_IDENT(host_mem_used_bytes, "%lld", (long long)atomic64_read(&hdev->host_mem_used));
HC_ATTR_TELEMETRY(contexts_in_use, contexts_in_use);
HC_ATTR_TELEMETRY(tokens_generated, tokens_generated);
HC_ATTR_TELEMETRY(prompt_tokens, prompt_tokens);
HC_ATTR_TELEMETRY(jobs_completed, jobs_completed);
HC_ATTR_TELEMETRY(jobs_failed, jobs_failed);
HC_ATTR_TELEMETRY(busy_time_ns, busy_ns);
HC_ATTR_COUNTER(jobs_submitted);
HC_ATTR_COUNTER(jobs_timed_out);
HC_ATTR_COUNTER(jobs_lost);
HC_ATTR_COUNTER(resets);

static struct attribute *hc_attrs[] = {
	&dev_attr_model_name.attr,
	&dev_attr_model_identity.attr,
	&dev_attr_interface_version.attr,
	&dev_attr_vocab_size.attr,
	&dev_attr_n_contexts.attr,
	&dev_attr_max_contexts.attr,
	&dev_attr_max_ctx_len.attr,
	&dev_attr_max_stream_entries.attr,
	&dev_attr_max_prefill_tokens.attr,
	&dev_attr_stream_mem_bytes.attr,
	&dev_attr_card_status.attr,
	&dev_attr_heartbeat.attr,
	&dev_attr_contexts_open.attr,
	&dev_attr_jobs_inflight.attr,
	&dev_attr_mem_used_bytes.attr,
	&dev_attr_host_mem_used_bytes.attr,
	&dev_attr_contexts_in_use.attr,
	&dev_attr_tokens_generated.attr,
	&dev_attr_prompt_tokens.attr,
	&dev_attr_jobs_completed.attr,
	&dev_attr_jobs_failed.attr,
	&dev_attr_busy_time_ns.attr,
	&dev_attr_jobs_submitted.attr,
	&dev_attr_jobs_timed_out.attr,
	&dev_attr_jobs_lost.attr,
	&dev_attr_resets.attr,
	NULL
};

static const struct attribute_group hc_attr_group = {
	.name = "hc",
	.attrs = hc_attrs,
};

/*
 * The driver core creates these after probe succeeds, before the bind uevent (so udev rules
 * and monitoring see them as soon as they hear of the device), and removes them before
 * remove(): pci_driver.driver.dev_groups.
 */
const struct attribute_group *hc_dev_groups[] = {
	&hc_attr_group,
	NULL
};
