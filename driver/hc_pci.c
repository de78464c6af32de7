// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: PCI probe and removal.
 *
 * Two kinds of devices carry an HC card: the card itself (its PCI ID is a PLACEHOLDER until
 * one is assigned), the only entry of the ID table, and QEMU's ivshmem-doorbell device
 * (1af4:1110) served by hc-emud, a generic device the driver does not claim by its ID: the
 * administrator (or the test harness) hands it over with driver_override ("echo hc_accel >
 * /sys/bus/pci/devices/BDF/driver_override"). Either way the driver binds a device only when
 * its memory (BAR2) starts with the HC card signature (-ENODEV otherwise, nothing claimed).
 * BAR0 holds the doorbell registers, BAR2 the card memory (register page first).
 */
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <drm/drm_drv.h>
#include <drm/drm_managed.h>

#include "hc_hw.h"
#include "hc_job.h"

/* PLACEHOLDER: no PCI vendor/device ID has been assigned to the HC card yet. */
#define HC_PCI_VENDOR_PLACEHOLDER	0xffff
#define HC_PCI_DEVICE_PLACEHOLDER	0x0001
#define IVSHMEM_VENDOR			0x1af4
#define HC_BAR_REGS			0
#define HC_BAR_MEM			2

static bool hc_pci_has_signature(struct pci_dev *pdev)
{
	resource_size_t len = pci_resource_len(pdev, HC_BAR_MEM);
	void __iomem *p;
	bool ok;

	if (!(pci_resource_flags(pdev, HC_BAR_MEM) & IORESOURCE_MEM) || len < HC_CARD_REGS_SIZE)
		return false;
	p = pci_iomap_range(pdev, HC_BAR_MEM, 0, HC_CARD_REGS_SIZE);
	if (!p)
		return false;
	ok = hc_hw_signature_ok(p, len);
	pci_iounmap(pdev, p);
	return ok;
}

static void hc_init_sw(struct hc_device *hdev)
{
	mutex_init(&hdev->mm_lock);
	spin_lock_init(&hdev->sq_lock);
	mutex_init(&hdev->cq_lock);
	xa_init_flags(&hdev->jobs, XA_FLAGS_ALLOC);
	init_waitqueue_head(&hdev->wq);
	spin_lock_init(&hdev->ctx_lock);
	INIT_LIST_HEAD(&hdev->ctx_list);
	init_rwsem(&hdev->reset_lock);
	spin_lock_init(&hdev->quota_lock);
	INIT_LIST_HEAD(&hdev->procs);
	hc_recovery_init(hdev);
	hc_job_orphans_init(hdev);
}

static int hc_pci_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct hc_device *hdev;
	int ret;

	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	if (!hc_pci_has_signature(pdev)) {
		dev_dbg(&pdev->dev, "no HC card signature in BAR2, leaving the device alone\n");
		return -ENODEV;
	}

	hdev = devm_drm_dev_alloc(&pdev->dev, &hc_drm_driver, struct hc_device, drm);
	if (IS_ERR(hdev))
		return PTR_ERR(hdev);
	hdev->pdev = pdev;
	pci_set_drvdata(pdev, hdev);
	hc_init_sw(hdev);

	if (!devm_request_mem_region(&pdev->dev, pci_resource_start(pdev, HC_BAR_REGS),
				     pci_resource_len(pdev, HC_BAR_REGS), HC_DRIVER_NAME))
		return -EBUSY;
	hdev->mmio = devm_ioremap(&pdev->dev, pci_resource_start(pdev, HC_BAR_REGS),
				  pci_resource_len(pdev, HC_BAR_REGS));
	if (!hdev->mmio)
		return -ENOMEM;
	hdev->mem_phys = pci_resource_start(pdev, HC_BAR_MEM);
	hdev->mem_size = pci_resource_len(pdev, HC_BAR_MEM);
	if (!devm_request_mem_region(&pdev->dev, hdev->mem_phys, hdev->mem_size, HC_DRIVER_NAME))
		return -EBUSY;
	/* Card memory is RAM shared with the card: write-back, as <hc_ring.h> expects. */
	hdev->mem = devm_memremap(&pdev->dev, hdev->mem_phys, hdev->mem_size, MEMREMAP_WB);
	if (IS_ERR(hdev->mem))
		return PTR_ERR(hdev->mem);
	pci_set_master(pdev);
	/* A card with HC_CAP_HOST_MEMORY writes host memory by bus address (hc_hw_init()). */
	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return ret;

	ret = hc_hw_init(hdev);
	if (ret)
		return ret;
	hdev->max_contexts_per_file = hdev->ident.max_contexts ?: hdev->ident.n_contexts;
	ret = hc_irq_init(hdev);
	if (ret)
		goto err_hw;
	ret = hc_hw_qp_enable(hdev);
	if (ret)
		goto err_irq;
	ret = drm_dev_register(&hdev->drm, 0);
	if (ret)
		goto err_reset;
	hc_debugfs_init(hdev);
	ret = hc_hwmon_init(hdev);
	if (ret)
		goto err_unregister;
	hc_info(hdev, "%s card, model \"%s\", %llu MiB card memory, %d %s vector(s)%s\n",
		pdev->vendor == IVSHMEM_VENDOR ? "ivshmem" : "HC", hdev->ident.model_name,
		hdev->mem_size >> 20, hdev->nvec,
		hdev->polling ? "polled" : hdev->msix ? "MSI-X" : "INTx",
		hdev->cq_host ? ", completions by DMA" : "");
	return 0;

err_unregister:
	drm_dev_unregister(&hdev->drm);
err_reset:
	hc_hw_reset(hdev);
err_irq:
	hc_irq_fini(hdev);
err_hw:
	hc_hw_fini(hdev);
	return ret;
}

static void hc_pci_remove(struct pci_dev *pdev)
{
	struct hc_device *hdev = pci_get_drvdata(pdev);

	/* No new ioctls; wait for those inside drm_dev_enter(). */
	drm_dev_unplug(&hdev->drm);
	/* Card memory goes away with the device: revoke every process mapping of it. */
	unmap_mapping_range(hdev->drm.anon_inode->i_mapping, 0, 0, 1);
	hc_recovery_fini(hdev);

	down_write(&hdev->reset_lock);
	WRITE_ONCE(hdev->dead, true);
	hc_hw_reset(hdev);	/* the card abandons our jobs */
	hc_irq_fini(hdev);
	mutex_lock(&hdev->cq_lock);
	hc_job_abort_all(hdev, NULL, DRM_HC_REASON_RESET);
	hdev->cq.hdr = NULL;
	mutex_unlock(&hdev->cq_lock);
	hc_ctx_mark_all_lost(hdev);
	up_write(&hdev->reset_lock);
	hc_job_orphans_fini(hdev);
	hc_hw_fini(hdev);
}

static const struct pci_device_id hc_pci_ids[] = {
	{ PCI_DEVICE(HC_PCI_VENDOR_PLACEHOLDER, HC_PCI_DEVICE_PLACEHOLDER) },
	{ }
};
MODULE_DEVICE_TABLE(pci, hc_pci_ids);

static struct pci_driver hc_pci_driver = {
	.name = HC_DRIVER_NAME,
	.id_table = hc_pci_ids,
	.probe = hc_pci_probe,
	.remove = hc_pci_remove,
	.dev_groups = hc_dev_groups,
	.err_handler = &hc_pci_err_handlers,
};
module_pci_driver(hc_pci_driver);
