//! `fusor doctor`: what this machine gives fusor (versions, libtorch, CUDA), plus a smoke test
//! that trains a tiny network with tch so a broken libtorch install shows up here, not mid-drive.

use anyhow::{ensure, Context, Result};
use std::fmt;
use tch::{nn, nn::Module, nn::OptimizerConfig, Device, Kind, Tensor};

/// What `fusor doctor` found.
#[derive(Debug, Clone)]
pub struct Report {
    /// fusor's own version.
    pub fusor_version: &'static str,
    /// The libtorch folder tch was built against (from the build), if known.
    pub libtorch_dir: Option<&'static str>,
    /// `tch::Cuda::is_available()`.
    pub cuda_available: bool,
    /// `tch::Cuda::device_count()`.
    pub cuda_device_count: i64,
    /// Whether libtorch_cuda.so is mapped into this process. tch's link line drops it unless
    /// linked with `--no-as-needed` (see build.rs); without it CUDA is never found, even on a GPU.
    pub libtorch_cuda_loaded: bool,
    /// `tch::Cuda::cudnn_is_available()`.
    pub cudnn_available: bool,
    /// The device inference would pick (`Device::cuda_if_available()`).
    pub inference_device: Device,
    /// Threads libtorch uses on the CPU.
    pub cpu_threads: i32,
    /// The smoke-test result.
    pub smoke: SmokeReport,
}

/// Result of training the tiny smoke-test network.
#[derive(Debug, Clone, Copy)]
pub struct SmokeReport {
    /// Loss before training.
    pub initial_loss: f64,
    /// Loss after training.
    pub final_loss: f64,
    /// Optimisation steps taken.
    pub steps: usize,
    /// Wall time of the whole smoke test in milliseconds.
    pub elapsed_ms: f64,
}

/// Gathers the report (runs the smoke test on the CPU).
pub fn diagnose() -> Result<Report> {
    Ok(Report {
        fusor_version: env!("CARGO_PKG_VERSION"),
        libtorch_dir: option_env!("FUSOR_LIBTORCH_LIB"),
        cuda_available: tch::Cuda::is_available(),
        cuda_device_count: tch::Cuda::device_count(),
        libtorch_cuda_loaded: std::fs::read_to_string("/proc/self/maps")
            .map(|maps| maps.contains("libtorch_cuda.so"))
            .unwrap_or(false),
        cudnn_available: tch::Cuda::cudnn_is_available(),
        inference_device: Device::cuda_if_available(),
        cpu_threads: tch::get_num_threads(),
        smoke: smoke_test(Device::Cpu)?,
    })
}

/// Trains a 2-layer conv net for a few steps to tell a constant target image from noise, and
/// checks the loss fell: libtorch loads, autograd runs, the optimiser updates weights.
pub fn smoke_test(device: Device) -> Result<SmokeReport> {
    let start = std::time::Instant::now();
    tch::manual_seed(7);
    let vs = nn::VarStore::new(device);
    let root = vs.root();
    let net = nn::seq()
        .add(nn::conv2d(&root / "c1", 3, 8, 3, nn::ConvConfig { padding: 1, ..Default::default() }))
        .add_fn(|x| x.relu())
        .add(nn::conv2d(&root / "c2", 8, 1, 3, nn::ConvConfig { padding: 1, ..Default::default() }));
    let input = Tensor::randn([4, 3, 32, 32], (Kind::Float, device));
    // Target: the per-pixel mean of the input channels, learnable by the two convolutions.
    let target = input.mean_dim(Some(&[1i64][..]), true, Kind::Float);
    let mut opt = nn::Adam::default().build(&vs, 1e-2).context("building the optimiser")?;
    let loss_of = |net: &nn::Sequential| net.forward(&input).mse_loss(&target, tch::Reduction::Mean);
    let initial_loss = loss_of(&net).double_value(&[]);
    let steps = 60;
    for _ in 0..steps {
        let loss = loss_of(&net);
        opt.backward_step(&loss);
    }
    let final_loss = loss_of(&net).double_value(&[]);
    ensure!(final_loss.is_finite() && initial_loss.is_finite(), "smoke net produced a non-finite loss");
    Ok(SmokeReport { initial_loss, final_loss, steps, elapsed_ms: start.elapsed().as_secs_f64() * 1e3 })
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "fusor {}", self.fusor_version)?;
        writeln!(f, "  tch:                 0.26.0 (libtorch 2.13.0 expected)")?;
        writeln!(f, "  libtorch lib:        {}", self.libtorch_dir.unwrap_or("(unknown)"))?;
        writeln!(f, "  libtorch_cuda.so:    {}", if self.libtorch_cuda_loaded { "loaded" } else { "not loaded" })?;
        writeln!(f, "  cpu threads:         {}", self.cpu_threads)?;
        writeln!(f, "  CUDA available:      {}", self.cuda_available)?;
        writeln!(f, "  CUDA device count:   {}", self.cuda_device_count)?;
        writeln!(f, "  cuDNN available:     {}", self.cudnn_available)?;
        writeln!(f, "  inference device:    {:?}", self.inference_device)?;
        write!(
            f,
            "  smoke test (cpu):    loss {:.4} -> {:.4} in {} steps, {:.0} ms",
            self.smoke.initial_loss, self.smoke.final_loss, self.smoke.steps, self.smoke.elapsed_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_network_trains_on_cpu() {
        let smoke = smoke_test(Device::Cpu).unwrap();
        assert!(
            smoke.final_loss < 0.2 * smoke.initial_loss,
            "loss only went {} -> {}",
            smoke.initial_loss,
            smoke.final_loss
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn libtorch_cuda_is_linked_so_cuda_can_be_found_on_a_gpu_machine() {
        assert!(diagnose().unwrap().libtorch_cuda_loaded, "build.rs link args (--no-as-needed -ltorch) missing");
    }

    #[test]
    fn cuda_device_count_agrees_with_availability() {
        let report = diagnose().unwrap();
        assert_eq!(report.cuda_available, report.cuda_device_count > 0);
        assert_eq!(report.inference_device == Device::Cpu, !report.cuda_available);
    }
}
