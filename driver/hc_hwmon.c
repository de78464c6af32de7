// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * hc_accel: hwmon sensors with the standard units, so `sensors` and Prometheus' hwmon
 * collector show the card unchanged: temp1_input (millidegree C), power1_average
 * (microwatt), energy1_input (microjoule), with labels.
 */
#include <linux/hwmon.h>
#include <linux/pci.h>
#include <drm/drm_drv.h>

#include "hc_hw.h"

static umode_t hc_hwmon_is_visible(const void *data, enum hwmon_sensor_types type, u32 attr,
				   int channel)
{
	switch (type) {
	case hwmon_temp:
		return (attr == hwmon_temp_input || attr == hwmon_temp_label) ? 0444 : 0;
	case hwmon_power:
		return (attr == hwmon_power_average || attr == hwmon_power_label) ? 0444 : 0;
	case hwmon_energy:
		return (attr == hwmon_energy_input || attr == hwmon_energy_label) ? 0444 : 0;
	default:
		return 0;
	}
}

static int hc_hwmon_read(struct device *dev, enum hwmon_sensor_types type, u32 attr,
			 int channel, long *val)
{
	struct hc_device *hdev = dev_get_drvdata(dev);
	const struct hc_card_telemetry *t = &hdev->regs->telemetry;
	int idx, ret = 0;

	/* card memory only while the device is there */
	if (!drm_dev_enter(&hdev->drm, &idx))
		return -ENODEV;
	switch (type) {
	case hwmon_temp:
		*val = (long)READ_ONCE(t->temperature_mc);
		break;
	case hwmon_power:
		*val = (long)READ_ONCE(t->power_uw);
		break;
	case hwmon_energy:
		*val = (long)READ_ONCE(t->energy_uj);
		break;
	default:
		ret = -EOPNOTSUPP;
	}
	drm_dev_exit(idx);
	return ret;
}

static int hc_hwmon_read_string(struct device *dev, enum hwmon_sensor_types type, u32 attr,
				int channel, const char **str)
{
	switch (type) {
	case hwmon_temp:
		*str = "card";
		return 0;
	case hwmon_power:
		*str = "board";
		return 0;
	case hwmon_energy:
		*str = "board";
		return 0;
	default:
		return -EOPNOTSUPP;
	}
}

static const struct hwmon_ops hc_hwmon_ops = {
	.is_visible = hc_hwmon_is_visible,
	.read = hc_hwmon_read,
	.read_string = hc_hwmon_read_string,
};

/* Elements not const: 6.1 wants "const struct hwmon_channel_info **". */
static const struct hwmon_channel_info *hc_hwmon_info[] = {
	HWMON_CHANNEL_INFO(temp, HWMON_T_INPUT | HWMON_T_LABEL),
	HWMON_CHANNEL_INFO(power, HWMON_P_AVERAGE | HWMON_P_LABEL),
	HWMON_CHANNEL_INFO(energy, HWMON_E_INPUT | HWMON_E_LABEL),
	NULL
};

static const struct hwmon_chip_info hc_hwmon_chip = {
	.ops = &hc_hwmon_ops,
	.info = hc_hwmon_info,
};

int hc_hwmon_init(struct hc_device *hdev)
{
	struct device *hwmon;

	hwmon = devm_hwmon_device_register_with_info(&hdev->pdev->dev, HC_DRIVER_NAME, hdev,
						     &hc_hwmon_chip, NULL);
	if (IS_ERR(hwmon))
		return PTR_ERR(hwmon);
	hdev->hwmon = hwmon;
	return 0;
}
