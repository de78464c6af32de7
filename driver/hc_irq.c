// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: interrupts. MSI-X with one vector for control acks and one for the queue pair
 * when the card has them; otherwise a single vector (MSI-X or shared INTx) for everything;
 * with no interrupt at all (no MSI-X, no INTx pin, or pci=nomsi) the driver polls: a work
 * item consumes completions and wakes waiters every jiffy while anything is in flight.
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

static void hc_poll_work(struct work_struct *work)
{
	struct hc_device *hdev = container_of(to_delayed_work(work), struct hc_device, poll_work);

	hc_cq_process(hdev);
	wake_up_all(&hdev->wq);
	if (atomic_read(&hdev->inflight) > 0 && !READ_ONCE(hdev->dead))
		queue_delayed_work(system_wq, &hdev->poll_work, 1);
}

/* Polling mode: make sure the poll work runs while jobs are in flight. */
void hc_irq_poll_kick(struct hc_device *hdev)
{
	if (hdev->polling)
		mod_delayed_work(system_wq, &hdev->poll_work, 1);
}

int hc_irq_init(struct hc_device *hdev)
{
	struct pci_dev *pdev = hdev->pdev;
	int want = min_t(int, hdev->ident.n_irq_vectors, HC_MAX_VECTORS);
	int i, ret;

	INIT_DELAYED_WORK(&hdev->poll_work, hc_poll_work);
	ret = pci_alloc_irq_vectors(pdev, 1, want, PCI_IRQ_MSIX);
	if (ret < 0) {
		ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_INTX);
		if (ret < 0) {
			dev_warn(&pdev->dev, "no usable interrupt (%d): polling the card\n", ret);
			hdev->polling = true;
			hdev->nvec = 0;
			return 0;
		}
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

	if (hdev->polling) {
		cancel_delayed_work_sync(&hdev->poll_work);
		hdev->polling = false;
	}
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
