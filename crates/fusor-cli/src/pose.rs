//! `fusor pose`: the ego-pose estimator alone over a recording's GNSS fixes and IMU samples. For
//! drives without lidar (which `fusor replay` needs), and to check a vehicle's GNSS and IMU: how
//! many fixes were outliers, where the heading came from, and how the IMU is mounted (the
//! position filter's accelerometer bias, read as a tilt).

use anyhow::{bail, Context, Result};
use clap::Args;
use fusor_align::{EgoPoseConfig, EgoPoseEstimator};
use fusor_core::calib::Rig;
use fusor_core::Imu;
use fusor_msgs::convert::{fix_from_navsatfix, imu_from_msg};
use fusor_msgs::sensor_msgs::{Imu as ImuMsg, NavSatFix};
use fusor_msgs::RosMessage;
use fusor_record::McapReader;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `fusor pose`.
#[derive(Debug, Args)]
pub struct PoseArgs {
    /// The recording (ROS 2 MCAP) holding `sensor_msgs/NavSatFix` and, optionally,
    /// `sensor_msgs/Imu` messages.
    pub recording: PathBuf,
    /// The NavSatFix topic (default: the only one in the recording).
    #[arg(long)]
    pub fix_topic: Option<String>,
    /// The Imu topic (default: the only one; none in the recording: GNSS alone).
    #[arg(long)]
    pub imu_topic: Option<String>,
    /// Rig file giving the lever arm of the fixes' frame and the IMU's mount in `base_link`
    /// (default: both at `base_link`).
    #[arg(long)]
    pub rig: Option<PathBuf>,
    /// Write the poses as CSV: stamp, position in `map` (ENU at the first fix), yaw, velocity.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// The one topic of type `M` (or `wanted`), among `topics` (name → type).
fn pick_topic<M: RosMessage>(topics: &BTreeMap<String, String>, wanted: Option<&str>) -> Result<Option<String>> {
    if let Some(topic) = wanted {
        match topics.get(topic) {
            Some(t) if t == M::TYPE_NAME => return Ok(Some(topic.to_owned())),
            Some(t) => bail!("topic {topic} is {t}, not {}", M::TYPE_NAME),
            None => bail!("the recording has no topic {topic}"),
        }
    }
    let found: Vec<&String> = topics.iter().filter(|(_, t)| *t == M::TYPE_NAME).map(|(n, _)| n).collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some((*one).clone())),
        many => bail!("several {} topics ({many:?}): choose one", M::TYPE_NAME),
    }
}

/// Runs `fusor pose`.
pub fn run(args: PoseArgs) -> Result<()> {
    let reader = McapReader::open(&args.recording).with_context(|| format!("opening {}", args.recording.display()))?;
    let topics: BTreeMap<String, String> =
        reader.info()?.topics.iter().map(|t| (t.topic.clone(), t.schema_name.clone())).collect();
    let Some(fix_topic) = pick_topic::<NavSatFix>(&topics, args.fix_topic.as_deref())? else {
        bail!("{} has no {} topic: no ego pose without GNSS", args.recording.display(), NavSatFix::TYPE_NAME);
    };
    let imu_topic = pick_topic::<ImuMsg>(&topics, args.imu_topic.as_deref())?;
    let rig = args.rig.as_ref().map(Rig::load).transpose().context("loading the rig")?;

    let mut estimator = EgoPoseEstimator::new(EgoPoseConfig::default())?;
    let (mut malformed, mut lever_arms_set) = (0u64, false);
    let mut poses = Vec::new();
    for message in reader.messages()? {
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("{}: the recording ends early: {e}", args.recording.display());
                break;
            }
        };
        if message.topic == fix_topic {
            let Ok(fix) =
                message.decode::<NavSatFix>().map_err(anyhow::Error::from).and_then(|m| Ok(fix_from_navsatfix(&m)?))
            else {
                malformed += 1;
                continue;
            };
            if !lever_arms_set {
                if let Some(rig) = &rig {
                    let gnss = rig.base_link_from(fix.frame_id.as_str()).with_context(|| {
                        format!("the rig has no frame {:?} (the fixes' frame)", fix.frame_id.as_str())
                    })?;
                    estimator.set_base_link_from_gnss(gnss);
                }
                lever_arms_set = true;
            }
            poses.extend(estimator.push_fix(&fix));
        } else if imu_topic.as_deref() == Some(message.topic.as_str()) {
            let Ok(imu): Result<Imu> =
                message.decode::<ImuMsg>().map_err(anyhow::Error::from).and_then(|m| Ok(imu_from_msg(&m)?))
            else {
                malformed += 1;
                continue;
            };
            if let (Some(rig), 0) = (&rig, estimator.stats().imu_samples) {
                let mount = rig
                    .base_link_from(imu.frame_id.as_str())
                    .with_context(|| format!("the rig has no frame {:?} (the IMU's frame)", imu.frame_id.as_str()))?;
                estimator.set_base_link_from_imu(mount.rotation);
            }
            estimator.push_imu(&imu);
        }
    }

    let stats = estimator.stats();
    println!(
        "{}: fixes from {fix_topic}, IMU from {}",
        args.recording.display(),
        imu_topic.as_deref().unwrap_or("(none)")
    );
    println!(
        "  {} fixes ({} unusable, {} out of order, {} rejected as outliers, {} filter restarts), {} IMU samples ({} bad), {} malformed messages",
        stats.fixes,
        stats.unusable_fixes,
        stats.out_of_order_fixes,
        stats.rejected_fixes,
        stats.filter_restarts,
        stats.imu_samples,
        stats.bad_imu_samples,
        malformed
    );
    let (Some(first), Some(last)) = (poses.first(), poses.last()) else {
        bail!(
            "no pose: no usable fix in {fix_topic} (or no heading: the vehicle never moved and has no IMU orientation)"
        );
    };
    let duration_s = (last.stamp - first.stamp).secs_f64();
    let path_m: f64 = poses
        .windows(2)
        .map(|w| (w[1].world_from_body.translation.vector - w[0].world_from_body.translation.vector).xy().norm())
        .sum();
    println!(
        "  {} poses over {duration_s:.1} s, {path_m:.0} m travelled ({:.1} m/s on average); heading from: IMU orientation {}, IMU rate + GNSS track {}, IMU rate {}, track {}, held {}",
        stats.poses,
        path_m / duration_s.max(1e-9),
        stats.heading_imu_orientation,
        stats.heading_imu_rate_and_track,
        stats.heading_imu_rate,
        stats.heading_track,
        stats.heading_held
    );
    if let Some([x, y, z]) = stats.accel_bias_m_s2.filter(|_| stats.imu_samples > 0) {
        println!("  {}", crate::replay::describe_accel_bias([x, y, z]));
    }
    if let Some(path) = &args.output {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        if let Some(origin) = estimator.origin() {
            writeln!(
                out,
                "# map = ENU at lat {:.9} deg, lon {:.9} deg, alt {:.3} m",
                origin.lat_deg, origin.lon_deg, origin.alt_m
            )?;
        }
        writeln!(out, "stamp_s,x_m,y_m,z_m,yaw_deg,vx_m_s,vy_m_s,vz_m_s")?;
        for pose in &poses {
            let p = pose.world_from_body.translation.vector;
            let yaw = pose.world_from_body.rotation.euler_angles().2.to_degrees();
            let v = pose.twist.map(|t| pose.world_from_body.rotation * t.linear_m_s);
            let [vx, vy, vz] = v.map_or([String::new(), String::new(), String::new()], |v| {
                [format!("{:.4}", v.x), format!("{:.4}", v.y), format!("{:.4}", v.z)]
            });
            writeln!(out, "{:.6},{:.4},{:.4},{:.4},{yaw:.4},{vx},{vy},{vz}", pose.stamp.secs_f64(), p.x, p.y, p.z)?;
        }
        out.flush()?;
        println!("wrote {} ({} poses)", path.display(), poses.len());
    }
    Ok(())
}
