//! Reads a real GPU's memory through NVML (`nvml-wrapper`). Without an NVIDIA driver,
//! `NvmlMonitor::new` returns an error and the element runs without the memory guard.

use nvml_wrapper::Nvml;
use nvml_wrapper::enums::device::UsedGpuMemory;

use crate::memory_guard::{MemoryMonitor, MemoryReading};

pub struct NvmlMonitor {
    nvml: Nvml,
    device_id: u32,
}

impl NvmlMonitor {
    pub fn new(device_id: u32) -> Result<NvmlMonitor, String> {
        let nvml = Nvml::init().map_err(|e| format!("NVML unavailable (no NVIDIA driver?): {e}"))?;
        nvml.device_by_index(device_id)
            .map_err(|e| format!("GPU {device_id} not found by NVML: {e}"))?;
        Ok(NvmlMonitor { nvml, device_id })
    }

    /// The GPU's name, for reports.
    pub fn name(&self) -> Option<String> {
        self.nvml.device_by_index(self.device_id).ok()?.name().ok()
    }
}

impl MemoryMonitor for NvmlMonitor {
    fn read(&mut self) -> Result<MemoryReading, String> {
        let device = self.nvml.device_by_index(self.device_id).map_err(|e| e.to_string())?;
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

/// Name and driver version of GPU `device_id`, when NVML can tell.
pub fn gpu_info(device_id: u32) -> Option<(String, String)> {
    let nvml = Nvml::init().ok()?;
    let name = nvml.device_by_index(device_id).ok()?.name().ok()?;
    let driver = nvml.sys_driver_version().unwrap_or_default();
    Some((name, driver))
}
