// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: buffer objects. Stream rings are page-granular ranges of card memory, so mapping
 * one whole never exposes a neighbour; mmap is bounds-checked against the object.
 *
 * Streams the card writes by DMA (HC_CAP_HOST_MEMORY) are dma_alloc_coherent() memory
 * instead, mapped with dma_mmap_coherent(); the card gets their bus address.
 *
 * Unplug: drm_dev_unplug() zaps every CPU mapping of the node, but processes keep their
 * mappings and touch them next (a ring head, a token). Without a fault handler that touch is
 * SIGBUS; with hc_bo_vm_fault() a context ring gets its own pages back (system memory the
 * object still owns) and a stream, whose card memory is gone, gets a zeroed page of its own:
 * the process learns of the unplug from ENODEV on its next ioctl, and does not crash first.
 */
#include <linux/dma-mapping.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_vma_manager.h>

#include "hc_gem.h"
#include "hc_hw.h"

static void hc_bo_free(struct drm_gem_object *obj)
{
	struct hc_bo *bo = to_hc_bo(obj);
	struct drm_device *drm = obj->dev;

	if (bo->kind == HC_BO_STREAM) {
		/* the card is done with it: jobs hold a reference, a reset abandons them */
		if (bo->host) {
			dma_free_coherent(drm->dev, obj->size, bo->vaddr, bo->dma);
			atomic64_sub(obj->size, &to_hc_device(drm)->host_mem_used);
		}
		hc_mem_free(to_hc_device(drm), &bo->node);
		hc_quota_uncharge(&bo->charge);
		if (bo->orphan_page)
			__free_page(bo->orphan_page);
	} else {
		vfree(bo->vaddr);
	}
	drm_gem_object_release(obj);
	kfree(bo);
	drm_dev_put(drm);
}

static int hc_bo_mmap(struct drm_gem_object *obj, struct vm_area_struct *vma)
{
	struct hc_bo *bo = to_hc_bo(obj);
	struct hc_device *hdev = to_hc_device(obj->dev);
	unsigned long pgoff = vma->vm_pgoff - drm_vma_node_start(&obj->vma_node);
	unsigned long npages = vma_pages(vma);
	int ret, idx;

	if (pgoff > (obj->size >> PAGE_SHIFT) || npages > (obj->size >> PAGE_SHIFT) - pgoff)
		return -EINVAL;
	/* Rings are shared with the driver and the card: a private copy would silently stop
	 * seeing them (and a write would go nowhere). */
	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (bo->kind == HC_BO_RING)
		return remap_vmalloc_range(vma, bo->vaddr, pgoff);

	if (!drm_dev_enter(obj->dev, &idx))
		return -ENODEV;
	if (bo->host) {
		unsigned long gem_pgoff = vma->vm_pgoff;

		/* dma_mmap_coherent() maps from vm_pgoff into the buffer: give it ours, then
		 * put the GEM offset back for hc_bo_vm_fault() */
		vma->vm_pgoff = pgoff;
		ret = dma_mmap_coherent(obj->dev->dev, vma, bo->vaddr, bo->dma, obj->size);
		vma->vm_pgoff = gem_pgoff;
	} else {
		vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP);
		ret = io_remap_pfn_range(vma, vma->vm_start,
					 ((hdev->mem_phys + bo->node.start) >> PAGE_SHIFT) + pgoff,
					 npages << PAGE_SHIFT, vma->vm_page_prot);
	}
	drm_dev_exit(idx);
	return ret;
}

/* The zeroed page that stands in for a stream's card memory once the card is gone. */
static struct page *hc_bo_orphan_page(struct hc_bo *bo)
{
	struct page *page = READ_ONCE(bo->orphan_page);

	if (page)
		return page;
	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return NULL;
	if (cmpxchg(&bo->orphan_page, NULL, page)) {	/* another fault won */
		__free_page(page);
		page = READ_ONCE(bo->orphan_page);
	}
	return page;
}

/*
 * Only after a zap: mmap populates both kinds whole. A context ring maps its own pages again
 * (as uio does for vmalloc memory); a stream maps its card memory while the device is there,
 * else its orphan page at every address (as TTM's dummy page after a hot unplug).
 */
static vm_fault_t hc_bo_vm_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct drm_gem_object *obj = vma->vm_private_data;
	struct hc_bo *bo = to_hc_bo(obj);
	unsigned long pgoff = vmf->pgoff - drm_vma_node_start(&obj->vma_node);
	struct page *page;
	vm_fault_t ret;
	int idx;

	if (pgoff >= obj->size >> PAGE_SHIFT)
		return VM_FAULT_SIGBUS;
	if (bo->kind == HC_BO_RING) {
		page = vmalloc_to_page(bo->vaddr + (pgoff << PAGE_SHIFT));
		get_page(page);
		vmf->page = page;
		return 0;
	}
	/* a stream in host memory is mapped whole by mmap and zapped only at unplug */
	if (!bo->host && drm_dev_enter(obj->dev, &idx)) {
		struct hc_device *hdev = to_hc_device(obj->dev);

		ret = vmf_insert_pfn(vma, vmf->address,
				     PHYS_PFN(hdev->mem_phys + bo->node.start) + pgoff);
		drm_dev_exit(idx);
		return ret;
	}
	page = hc_bo_orphan_page(bo);
	if (!page)
		return VM_FAULT_OOM;
	return vmf_insert_pfn(vma, vmf->address, page_to_pfn(page));
}

static const struct vm_operations_struct hc_bo_vm_ops = {
	.fault = hc_bo_vm_fault,
	.open = drm_gem_vm_open,
	.close = drm_gem_vm_close,
};

/*
 * No PRIME export: a stream is card memory tied to its file's contexts and the card's
 * lifetime, and a context ring is the driver's; neither may outlive the file in another
 * driver's hands. (Without .export, DRM exports any GEM object by default.)
 */
static struct dma_buf *hc_bo_export(struct drm_gem_object *obj, int flags)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static const struct drm_gem_object_funcs hc_bo_funcs = {
	.free = hc_bo_free,
	.export = hc_bo_export,
	.mmap = hc_bo_mmap,
	.vm_ops = &hc_bo_vm_ops,
};

static struct hc_bo *hc_bo_alloc(struct hc_device *hdev, enum hc_bo_kind kind, size_t size)
{
	struct hc_bo *bo = kzalloc(sizeof(*bo), GFP_KERNEL);

	if (!bo)
		return NULL;
	bo->kind = kind;
	bo->base.funcs = &hc_bo_funcs;
	drm_gem_private_object_init(&hdev->drm, &bo->base, size);
	drm_dev_get(&hdev->drm);
	return bo;
}

struct hc_bo *hc_bo_create_ring(struct hc_device *hdev, size_t size)
{
	struct hc_bo *bo;
	int ret;

	size = PAGE_ALIGN(size);
	bo = hc_bo_alloc(hdev, HC_BO_RING, size);
	if (!bo)
		return ERR_PTR(-ENOMEM);
	bo->vaddr = vmalloc_user(size);	/* zeroed */
	if (!bo->vaddr) {
		ret = -ENOMEM;
		goto err;
	}
	ret = drm_gem_create_mmap_offset(&bo->base);
	if (ret)
		goto err;
	return bo;
err:
	hc_bo_put(bo);
	return ERR_PTR(ret);
}

struct hc_bo *hc_bo_lookup_stream(struct drm_file *file, u32 handle)
{
	struct drm_gem_object *obj = drm_gem_object_lookup(file, handle);

	if (!obj)
		return NULL;
	if (obj->funcs != &hc_bo_funcs || to_hc_bo(obj)->kind != HC_BO_STREAM) {
		drm_gem_object_put(obj);
		return NULL;
	}
	return to_hc_bo(obj);
}

int hc_ioctl_stream_create(struct drm_device *drm, void *data, struct drm_file *file)
{
	struct hc_device *hdev = to_hc_device(drm);
	struct drm_hc_stream_create *args = data;
	struct hc_bo *bo;
	size_t size;
	int ret, idx;

	if (args->flags || args->pad || args->reserved[0] || args->reserved[1])
		return -EINVAL;
	if (!is_power_of_2(args->entries) || args->entries > hdev->ident.max_stream_entries)
		return -EINVAL;
	size = PAGE_ALIGN(HC_RING_BYTES(args->entries, sizeof(u32)));

	if (!drm_dev_enter(drm, &idx))
		return -ENODEV;
	bo = hc_bo_alloc(hdev, HC_BO_STREAM, size);
	if (!bo) {
		ret = -ENOMEM;
		goto out;
	}
	bo->entries = args->entries;
	ret = hc_quota_charge(file->driver_priv, &bo->charge, 0, size);
	if (ret)
		goto put;	/* -EDQUOT */
	/*
	 * Where the card writes it by DMA if it can (HC_CAP_HOST_MEMORY, as the CQ): the
	 * process then reads RAM, never the BAR. Zeroed. Card memory if that fails.
	 */
	if (hdev->cq_host) {
		bo->vaddr = dma_alloc_coherent(drm->dev, size, &bo->dma, GFP_KERNEL | __GFP_NOWARN);
		bo->host = bo->vaddr != NULL;
	}
	if (!bo->host) {
		ret = hc_mem_alloc(hdev, &bo->node, size, PAGE_SIZE);
		if (ret) {
			ret = -ENOSPC;	/* card memory exhausted */
			goto put;
		}
		bo->vaddr = hc_mem_ptr(hdev, bo->node.start);
		memset(bo->vaddr, 0, size);
	}
	atomic64_inc(bo->host ? &hdev->streams_host : &hdev->streams_card);
	if (bo->host)
		atomic64_add(size, &hdev->host_mem_used);
	ret = drm_gem_create_mmap_offset(&bo->base);
	if (ret)
		goto put;
	ret = drm_gem_handle_create(file, &bo->base, &args->handle);
	if (ret)
		goto put;
	args->mmap_offset = drm_vma_node_offset_addr(&bo->base.vma_node);
	args->size = size;
put:
	hc_bo_put(bo);	/* the handle holds its own reference */
out:
	drm_dev_exit(idx);
	return ret;
}
