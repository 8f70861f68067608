//! Reads a real GPU's memory through NVML (`nvml-wrapper`). Without an NVIDIA driver,
//! `NvmlMonitor::new` returns an error and the element runs without the memory guard.
//!
//! The device is found by UUID, not by index: CUDA's device numbers (which `device-id`
//! means) follow CUDA_VISIBLE_DEVICES and MIG, NVML's indices do not.

use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::{Device, Nvml};

use crate::engine::gpu;
use crate::memory_guard::{MemoryMonitor, MemoryReading};

pub struct NvmlMonitor {
    nvml: Nvml,
    /// NVML's name for the device: "GPU-..." or, for a MIG instance, "MIG-...".
    uuid: String,
}

/// NVML and its name for CUDA device `device_id`.
fn open(device_id: u32) -> Result<(Nvml, String), String> {
    let nvml = Nvml::init().map_err(|e| format!("NVML unavailable (no NVIDIA driver?): {e}"))?;
    let uuid = gpu::device_uuid(device_id).map_err(|e| format!("cannot identify CUDA device {device_id}: {e}"))?;
    let name = ["GPU-", "MIG-"]
        .iter()
        .map(|prefix| format!("{prefix}{uuid}"))
        .find(|name| nvml.device_by_uuid(name.as_str()).is_ok())
        .ok_or_else(|| format!("NVML does not know CUDA device {device_id} (UUID {uuid})"))?;
    Ok((nvml, name))
}

impl NvmlMonitor {
    pub fn new(device_id: u32) -> Result<NvmlMonitor, String> {
        let (nvml, uuid) = open(device_id)?;
        Ok(NvmlMonitor { nvml, uuid })
    }

    fn device(&self) -> Result<Device<'_>, String> {
        self.nvml.device_by_uuid(self.uuid.as_str()).map_err(|e| e.to_string())
    }
}

impl MemoryMonitor for NvmlMonitor {
    fn read(&mut self) -> Result<MemoryReading, String> {
        let device = self.device()?;
        let info = device.memory_info().map_err(|e| e.to_string())?;
        let pid = std::process::id();
        let process_used = device.running_compute_processes().ok().and_then(|procs| {
            procs.into_iter().find(|p| p.pid == pid).and_then(|p| match p.used_gpu_memory {
                UsedGpuMemory::Used(bytes) => Some(bytes),
                UsedGpuMemory::Unavailable => None,
            })
        });
        Ok(MemoryReading { used: info.used, total: info.total, process_used })
    }
}

/// Name and driver version of CUDA device `device_id`, when NVML can tell.
pub fn gpu_info(device_id: u32) -> Option<(String, String)> {
    let (nvml, uuid) = open(device_id).ok()?;
    let name = nvml.device_by_uuid(uuid.as_str()).ok()?.name().ok()?;
    let driver = nvml.sys_driver_version().unwrap_or_default();
    Some((name, driver))
}
