// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: interrupts. MSI-X with one vector for control acks and one for the queue pair
 * when the card has them; otherwise a single vector (MSI-X or shared INTx) for everything.
 * The hard handler only acknowledges; the thread consumes completions and wakes waiters
 * (stream waiters re-check their rings themselves).
 */
#include <linux/interrupt.h>
#include <linux/pci.h>

#include "hc_hw.h"
#include "hc_job.h"

static irqreturn_t hc_irq_intx(int irq, void *arg)
{
	struct hc_device *hdev = arg;

	/* ivshmem: reading IntrStatus clears it; zero means the shared line was not ours. */
	return readl(hdev->mmio + IVSHMEM_INTR_STATUS) ? IRQ_WAKE_THREAD : IRQ_NONE;
}

static irqreturn_t hc_irq_thread(int irq, void *arg)
{
	struct hc_device *hdev = arg;

	hc_cq_process(hdev);
	wake_up_all(&hdev->wq);
	return IRQ_HANDLED;
}

int hc_irq_init(struct hc_device *hdev)
{
	struct pci_dev *pdev = hdev->pdev;
	int want = min_t(int, hdev->ident.n_irq_vectors, HC_MAX_VECTORS);
	int i, ret;

	ret = pci_alloc_irq_vectors(pdev, 1, want, PCI_IRQ_MSIX);
	if (ret < 0) {
		ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_INTX);
		if (ret < 0)
			return ret;
		hdev->msix = false;
		writel(0xffffffff, hdev->mmio + IVSHMEM_INTR_MASK);
	} else {
		hdev->msix = true;
	}
	hdev->nvec = ret;
	hdev->qp_vector = hdev->nvec > 1 ? 1 : 0;

	for (i = 0; i < hdev->nvec; i++) {
		ret = request_threaded_irq(pci_irq_vector(pdev, i),
					   hdev->msix ? NULL : hc_irq_intx, hc_irq_thread,
					   hdev->msix ? IRQF_ONESHOT : IRQF_SHARED | IRQF_ONESHOT,
					   HC_DRIVER_NAME, hdev);
		if (ret)
			goto err;
	}
	return 0;
err:
	while (--i >= 0)
		free_irq(pci_irq_vector(pdev, i), hdev);
	pci_free_irq_vectors(pdev);
	hdev->nvec = 0;
	return ret;
}

void hc_irq_fini(struct hc_device *hdev)
{
	int i;

	if (!hdev->nvec)
		return;
	if (!hdev->msix)
		writel(0, hdev->mmio + IVSHMEM_INTR_MASK);
	for (i = 0; i < hdev->nvec; i++)
		free_irq(pci_irq_vector(hdev->pdev, i), hdev);
	pci_free_irq_vectors(hdev->pdev);
	hdev->nvec = 0;
}

void hc_irq_disable(struct hc_device *hdev)
{
	int i;

	for (i = 0; i < hdev->nvec; i++)
		disable_irq(pci_irq_vector(hdev->pdev, i));
}

void hc_irq_enable(struct hc_device *hdev)
{
	int i;

	for (i = 0; i < hdev->nvec; i++)
		enable_irq(pci_irq_vector(hdev->pdev, i));
}
