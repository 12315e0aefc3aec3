"""The probe's records live in :mod:`traintime.measured` (the calibration store reads them
without torch); imported here for the probe's modules."""

from traintime.measured import (
    CalibrationRecord,
    DeviceInfo,
    DeviceKind,
    Measurement,
    MeasurementKind,
    ModelMeasurement,
)

__all__ = [
    "CalibrationRecord",
    "DeviceInfo",
    "DeviceKind",
    "Measurement",
    "MeasurementKind",
    "ModelMeasurement",
]
