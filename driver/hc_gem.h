/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * hc_accel: buffer objects (hc_gem.c). Two kinds, both GEM objects a process can mmap:
 * stream rings, where the card writes tokens and the process reads them in place (host memory
 * the card writes by DMA when it can, HC_CAP_HOST_MEMORY; else card memory), and context
 * rings in system memory (submission and completion rings, hc_ctx.c).
 */
#ifndef HC_GEM_H
#define HC_GEM_H

#include <drm/drm_gem.h>
#include "hc_drv.h"
#include "hc_quota.h"

enum hc_bo_kind {
	HC_BO_STREAM = 1,	/* struct hc_ring_hdr + u32 token ids, the card writes them */
	HC_BO_RING = 2,		/* system memory (vmalloc_user) */
};

struct hc_bo {
	struct drm_gem_object base;
	enum hc_bo_kind kind;
	struct drm_mm_node node;	/* HC_BO_STREAM in card memory: where */
	bool host;			/* HC_BO_STREAM in host memory (dma_alloc_coherent) */
	dma_addr_t dma;			/* ...at this bus address */
	void *vaddr;			/* kernel view of the whole buffer */
	u32 entries;			/* HC_BO_STREAM: ring entries */
	struct hc_charge charge;	/* HC_BO_STREAM: its card memory against the quotas */
	struct page *orphan_page;	/* HC_BO_STREAM: mapped in place of card memory after an
					 * unplug (hc_bo_vm_fault), freed with the object */
};

static inline struct hc_bo *to_hc_bo(struct drm_gem_object *obj)
{
	return container_of(obj, struct hc_bo, base);
}

struct hc_bo *hc_bo_create_ring(struct hc_device *hdev, size_t size);
/* A stream owned by @file, with a reference the caller must drop; NULL if none. */
struct hc_bo *hc_bo_lookup_stream(struct drm_file *file, u32 handle);

static inline void hc_bo_put(struct hc_bo *bo)
{
	drm_gem_object_put(&bo->base);
}

#endif /* HC_GEM_H */
