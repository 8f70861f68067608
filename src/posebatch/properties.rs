//! The element's settings: enum types exposed as GObject enums, and their defaults.

use gst::glib;

use crate::batcher::{BatchConfig, Overflow};
use crate::engine::{DecodeParams, EngineConfig, Precision, Provider};

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPoseBatchExecutionProvider")]
pub enum ExecutionProvider {
    #[default]
    #[enum_value(name = "Auto: CUDA when usable, else CPU", nick = "auto")]
    Auto,
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu,
    #[enum_value(name = "CUDA (falls back to CPU with a warning)", nick = "cuda")]
    Cuda,
    #[enum_value(name = "TensorRT (falls back to CPU with a warning)", nick = "tensorrt")]
    TensorRt,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPoseBatchPrecision")]
pub enum PrecisionSetting {
    #[default]
    #[enum_value(name = "Auto: fp16 on GPU, fp32 on CPU", nick = "auto")]
    Auto,
    #[enum_value(name = "fp32", nick = "fp32")]
    Fp32,
    #[enum_value(name = "fp16", nick = "fp16")]
    Fp16,
}

#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum, Default)]
#[repr(u32)]
#[enum_type(name = "GstPoseBatchOverflow")]
pub enum OverflowSetting {
    #[default]
    #[enum_value(name = "Auto: drop-oldest for live sources, block otherwise", nick = "auto")]
    Auto,
    #[enum_value(name = "Block: back-pressure, nothing lost", nick = "block")]
    Block,
    #[enum_value(name = "Drop oldest queued frame", nick = "drop-oldest")]
    DropOldest,
    #[enum_value(name = "Push oldest queued frame on without inference", nick = "pass-oldest")]
    PassOldest,
}

impl OverflowSetting {
    /// The policy for a stream whose upstream is (or is not) live.
    pub fn resolve(self, live: bool) -> Overflow {
        match self {
            OverflowSetting::Auto if live => Overflow::DropOldest,
            OverflowSetting::Auto | OverflowSetting::Block => Overflow::Block,
            OverflowSetting::DropOldest => Overflow::DropOldest,
            OverflowSetting::PassOldest => Overflow::PassOldest,
        }
    }
}

pub const MS: u64 = 1_000_000;

#[derive(Debug, Clone)]
pub struct Settings {
    pub model: String,
    pub provider: ExecutionProvider,
    pub device_id: u32,
    pub precision: PrecisionSetting,
    pub input_size: u32,
    pub max_batch_size: u32,
    pub batch_timeout: u64,
    pub overflow: OverflowSetting,
    pub queue_size: u32,
    pub score_threshold: f32,
    pub iou_threshold: f32,
    pub max_poses: u32,
    pub threads: u32,
    pub vram_limit: f64,
    pub vram_resume: f64,
    pub stats_interval: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: String::new(),
            provider: ExecutionProvider::Auto,
            device_id: 0,
            precision: PrecisionSetting::Auto,
            input_size: 640,
            max_batch_size: 8,
            batch_timeout: 40 * MS,
            overflow: OverflowSetting::Auto,
            queue_size: 2,
            score_threshold: 0.25,
            iou_threshold: 0.45,
            max_poses: 32,
            threads: 0,
            vram_limit: 0.9,
            vram_resume: 0.8,
            stats_interval: 1000 * MS,
        }
    }
}

impl Settings {
    pub fn batch_config(&self) -> BatchConfig {
        BatchConfig {
            max_batch_size: self.max_batch_size as usize,
            batch_timeout: self.batch_timeout,
            queue_size: self.queue_size as usize,
        }
    }

    pub fn decode_params(&self) -> DecodeParams {
        DecodeParams {
            score_threshold: self.score_threshold,
            iou_threshold: self.iou_threshold,
            max_poses: self.max_poses as usize,
        }
    }

    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            model: (!self.model.is_empty()).then(|| self.model.clone().into()),
            provider: match self.provider {
                ExecutionProvider::Auto => Provider::Auto,
                ExecutionProvider::Cpu => Provider::Cpu,
                ExecutionProvider::Cuda => Provider::Cuda,
                ExecutionProvider::TensorRt => Provider::TensorRt,
            },
            device_id: self.device_id,
            precision: match self.precision {
                PrecisionSetting::Auto => Precision::Auto,
                PrecisionSetting::Fp32 => Precision::Fp32,
                PrecisionSetting::Fp16 => Precision::Fp16,
            },
            input_size: self.input_size as usize,
            threads: self.threads as usize,
        }
    }
}
