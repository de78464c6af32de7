/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * hc_accel: access to the card's register page, doorbells and queue pair (hc_hw.c).
 * The register page and rings live in card memory (BAR2, mapped write-back); the card learns
 * of host writes only through doorbells (ivshmem BAR0 Doorbell register).
 */
#ifndef HC_HW_H
#define HC_HW_H

#include "hc_drv.h"

/* ivshmem BAR0 registers. */
#define IVSHMEM_INTR_MASK	0x00
#define IVSHMEM_INTR_STATUS	0x04
#define IVSHMEM_IV_POSITION	0x08
#define IVSHMEM_DOORBELL	0x0c

/* Card-written 64-bit register: a plain load (the card updates it atomically). */
#define hc_reg_read64(hdev, field)	READ_ONCE((hdev)->regs->field)
#define hc_reg_read32(hdev, field)	READ_ONCE((hdev)->regs->field)

bool hc_hw_signature_ok(void __iomem *bar2, resource_size_t len);
int hc_hw_init(struct hc_device *hdev);
void hc_hw_fini(struct hc_device *hdev);
void hc_hw_doorbell(struct hc_device *hdev, u32 vector);
int hc_hw_qp_enable(struct hc_device *hdev);
int hc_hw_reset(struct hc_device *hdev);
u64 hc_hw_heartbeat(struct hc_device *hdev);
u32 hc_hw_status(struct hc_device *hdev);

/* Card-memory allocation (page-granular for anything a process may map). */
int hc_mem_alloc(struct hc_device *hdev, struct drm_mm_node *node, u64 size, u64 align);
void hc_mem_free(struct hc_device *hdev, struct drm_mm_node *node);
static inline void *hc_mem_ptr(struct hc_device *hdev, u64 offset)
{
	return (u8 *)hdev->mem + offset;
}

#endif /* HC_HW_H */
