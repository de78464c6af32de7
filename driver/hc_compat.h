/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Every difference between the kernels hc_accel supports (Debian 12's 6.1 and 6.12) lives
 * here; Kbuild force-includes this header (-include) so the .c files carry no version checks.
 * Features are probed (__has_include) where possible, versions compared only as a last resort.
 */
#ifndef HC_COMPAT_H
#define HC_COMPAT_H

#include <linux/version.h>
#include <linux/mm.h>
#include <linux/pci.h>
#include <drm/drm_drv.h>
#include <drm/drm_file.h>
#include <drm/drm_gem.h>
#include <drm/drm_ioctl.h>

#if __has_include(<drm/drm_accel.h>)
/* Linux >= 6.2: a compute accelerator node, /dev/accel/accelN. */
#include <drm/drm_accel.h>
#define HC_NODE_ACCEL		1
#define HC_DRIVER_FEATURES	(DRIVER_GEM | DRIVER_COMPUTE_ACCEL)
#define HC_IOCTL_FLAGS		0
/* DRM_ACCEL_FOPS has no fdinfo hook yet: add drm_show_fdinfo (per-process usage). */
#define HC_DEFINE_FOPS(name)						\
	static const struct file_operations name = {			\
		.owner = THIS_MODULE,					\
		DRM_ACCEL_FOPS,						\
		.show_fdinfo = drm_show_fdinfo,				\
	}
#define HC_DRIVER_FDINFO(fn)	.show_fdinfo = (fn),
/* The accel minor's debugfs directory; accel does not call drm_driver.debugfs_init. */
static inline struct dentry *hc_debugfs_root(struct drm_device *drm)
{
	return drm->accel->debugfs_root;
}
#else
/* No accel subsystem: the same UAPI on a render node; every ioctl must allow render clients. */
#define HC_NODE_ACCEL		0
#define HC_DRIVER_FEATURES	(DRIVER_GEM | DRIVER_RENDER)
#define HC_IOCTL_FLAGS		DRM_RENDER_ALLOW
#define HC_DEFINE_FOPS(name)	DEFINE_DRM_GEM_FOPS(name)
/* drm_driver.show_fdinfo arrived in 6.5. */
#define HC_DRIVER_FDINFO(fn)
static inline struct dentry *hc_debugfs_root(struct drm_device *drm)
{
	return drm->primary->debugfs_root;
}
#endif

/* drm-total-/drm-resident- memory keys in fdinfo: the helper arrived in 6.5 (as did
 * show_fdinfo for non-accel drivers; the accel one prints nothing without it). */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define hc_show_memory_stats(p, file)	drm_show_memory_stats(p, file)
#else
#define hc_show_memory_stats(p, file)	do { } while (0)
#endif

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
/* vm_flags became read-only with accessors in 6.3. */
static inline void vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vma->vm_flags |= flags;
}
#endif

#ifndef PCI_IRQ_INTX
/* Renamed from PCI_IRQ_LEGACY in 6.8. */
#define PCI_IRQ_INTX		PCI_IRQ_LEGACY
#endif

#endif /* HC_COMPAT_H */
