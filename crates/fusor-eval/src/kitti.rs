//! KITTI label conventions: difficulty levels, neighbouring classes, `DontCare` regions, and the
//! tracking label format (`label_02/SSSS.txt`).
//!
//! KITTI boxes are bottom-centred in the rectified cam-0 frame; fusor boxes are centred and
//! upright in a z-up rig frame. Conversion goes through the rig calibration
//! ([`KittiObject::box_in`]), so ground truth lands in the frame the outputs are expressed in.

use crate::{Difficulty, DontCareRegion, EvalError, GroundTruthBox, Result, TrackingFrameEval};
use fusor_core::calib::kitti::{parse_kitti_labels, KittiObject, CAMERA_FRONT};
use fusor_core::calib::Rig;
use fusor_core::ObjectClass;
use nalgebra::Matrix3x4;
use std::path::Path;

/// Smallest 2D box height in pixels per level (Easy, Moderate, Hard), from the KITTI devkit.
const MIN_HEIGHT_PX: [f64; 3] = [40.0, 25.0, 25.0];
/// Largest occlusion state per level.
const MAX_OCCLUSION: [i32; 3] = [0, 1, 2];
/// Largest truncated fraction per level.
const MAX_TRUNCATION: [f64; 3] = [0.15, 0.30, 0.50];

/// The easiest KITTI level an object label qualifies for (2D box height, occlusion, truncation),
/// or `None` when it is harder than `Hard` (the devkit then ignores it at every level).
pub fn kitti_difficulty(obj: &KittiObject) -> Option<Difficulty> {
    let height_px = obj.bbox_2d[3] - obj.bbox_2d[1];
    Difficulty::ALL.into_iter().zip(0..).find_map(|(level, i)| {
        (height_px >= MIN_HEIGHT_PX[i] && obj.occluded <= MAX_OCCLUSION[i] && obj.truncated <= MAX_TRUNCATION[i])
            .then_some(level)
    })
}

/// A KITTI object label as evaluator ground truth in `frame` (a z-up rig frame such as
/// `base_link` or `lidar`).
///
/// As in the devkit, `Van` (for cars) and `Person_sitting` (for pedestrians) are neighbouring
/// classes: ignored, so a car detector is neither rewarded nor punished for them. Objects harder
/// than `Hard` are ignored too. `Truck`, `Tram`, `Misc` and unknown types become
/// [`ObjectClass::Other`], which is not scored.
pub fn ground_truth_from_kitti(obj: &KittiObject, rig: &Rig, frame: &str) -> Result<GroundTruthBox> {
    let difficulty = kitti_difficulty(obj);
    let neighbour = matches!(obj.type_name.as_str(), "Van" | "Person_sitting");
    Ok(GroundTruthBox {
        bbox: obj.box_in(rig, frame)?,
        class: obj.class.unwrap_or(ObjectClass::Other),
        difficulty,
        track_id: None,
        ignore: neighbour || difficulty.is_none(),
    })
}

/// `image_2` pixels from `frame`: `K₂ · camera_front_from_frame`, for [`DontCareRegion::Image`].
pub fn image_from_frame(rig: &Rig, frame: &str) -> Result<Matrix3x4<f64>> {
    let camera = rig
        .camera(CAMERA_FRONT)
        .ok_or_else(|| EvalError::Invalid(format!("rig {:?} has no {CAMERA_FRONT} camera", rig.name)))?;
    let camera_from_frame = rig.transform(CAMERA_FRONT, frame)?.target_from_source.to_homogeneous();
    Ok(camera.k * camera_from_frame.fixed_view::<3, 4>(0, 0))
}

/// The `DontCare` rectangles of a KITTI object label file's text (lines `DontCare … x1 y1 x2 y2
/// …`), as image regions seen through `image_from_frame` (see [`image_from_frame`]). Lines that
/// are not `DontCare` or lack four finite numbers in fields 5–8 are skipped; the object parser
/// (`load_kitti_labels`) reports malformed lines.
pub fn kitti_dont_care_regions(label_text: &str, image_from_frame: Matrix3x4<f64>) -> Vec<DontCareRegion> {
    label_text
        .lines()
        .filter_map(|line| {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            if tokens.first() != Some(&"DontCare") {
                return None;
            }
            dont_care_rect(&tokens).map(|rect_px| DontCareRegion::Image { rect_px, image_from_frame })
        })
        .collect()
}

/// `[x1, y1, x2, y2]` from the tokens of an object label line (type first).
fn dont_care_rect(object_tokens: &[&str]) -> Option<[f64; 4]> {
    let rect: Vec<f64> = object_tokens.get(4..8)?.iter().filter_map(|t| t.parse().ok()).collect();
    let rect: [f64; 4] = rect.try_into().ok()?;
    rect.iter().all(|v| v.is_finite()).then_some(rect)
}

/// Reads a KITTI tracking label file (17 fields per line: `frame track_id type truncated
/// occluded alpha x1 y1 x2 y2 h w l x y z rotation_y`) into one [`TrackingFrameEval`] per frame
/// number from 0 to the last labelled frame, with ground truth in `frame` and no tracks yet.
///
/// `DontCare` lines (track id −1) become image [`DontCareRegion`]s in `image_2`. `Van` and
/// `Person_sitting` are ignored neighbours (see [`ground_truth_from_kitti`]); difficulty is left
/// unknown because tracking labels grade truncation 0/1/2 rather than as a fraction.
pub fn load_kitti_tracking_labels(path: impl AsRef<Path>, rig: &Rig, frame: &str) -> Result<Vec<TrackingFrameEval>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io { path: path.to_path_buf(), source })?;
    parse_kitti_tracking_labels(&text, path, rig, frame)
}

/// Parses the text of a KITTI tracking label file; `path` only names it in errors. See
/// [`load_kitti_tracking_labels`].
pub fn parse_kitti_tracking_labels(text: &str, path: &Path, rig: &Rig, frame: &str) -> Result<Vec<TrackingFrameEval>> {
    /// Frames beyond this are refused: a corrupt frame number must not allocate without bound.
    const MAX_FRAME: usize = 1_000_000;
    let err = |line: usize, why: String| EvalError::Parse { path: path.to_path_buf(), line, why };
    let image_from_frame = image_from_frame(rig, frame)?;
    let mut frames: Vec<TrackingFrameEval> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.is_empty() {
            continue;
        }
        if tokens.len() != 17 {
            return Err(err(line_no, format!("expected 17 fields, found {}", tokens.len())));
        }
        let (frame_tok, id_tok, object_tokens) = (tokens[0], tokens[1], &tokens[2..]);
        let frame_no: usize = frame_tok
            .parse()
            .ok()
            .filter(|&f| f <= MAX_FRAME)
            .ok_or_else(|| err(line_no, format!("frame {frame_tok:?} is not an integer in 0..={MAX_FRAME}")))?;
        let track_id: i64 =
            id_tok.parse().map_err(|_| err(line_no, format!("track id {id_tok:?} is not an integer")))?;
        if frames.len() <= frame_no {
            frames.resize_with(frame_no + 1, TrackingFrameEval::default);
        }
        let slot = &mut frames[frame_no];
        if object_tokens.first() == Some(&"DontCare") {
            let rect_px = dont_care_rect(object_tokens)
                .ok_or_else(|| err(line_no, "DontCare 2D box is not four finite numbers".to_owned()))?;
            slot.dont_care.push(DontCareRegion::Image { rect_px, image_from_frame });
            continue;
        }
        let track_id = u64::try_from(track_id)
            .map_err(|_| err(line_no, format!("track id {track_id} of a labelled object is negative")))?;
        // The 15 object fields are exactly an object label line; reuse the core parser.
        let labels = parse_kitti_labels(&object_tokens.join(" "), path)
            .map_err(|e| err(line_no, format!("object fields: {e}")))?;
        let Some(obj) = labels.objects.first() else {
            return Err(err(line_no, "no object on the line".to_owned()));
        };
        let mut gt = ground_truth_from_kitti(obj, rig, frame)?;
        gt.difficulty = None;
        gt.ignore = matches!(obj.type_name.as_str(), "Van" | "Person_sitting");
        gt.track_id = Some(track_id);
        slot.gt.push(gt);
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fusor_core::calib::kitti::parse_kitti_labels;

    fn object(line: &str) -> KittiObject {
        parse_kitti_labels(line, "l.txt").unwrap().objects.remove(0)
    }

    #[test]
    fn difficulty_follows_height_occlusion_and_truncation() {
        // 2D height 50 px, visible, untruncated: easy.
        assert_eq!(kitti_difficulty(&object("Car 0.0 0 0 0 100 10 150 1.5 1.6 4 0 1.6 20 0")), Some(Difficulty::Easy));
        // 30 px tall: moderate at best.
        assert_eq!(
            kitti_difficulty(&object("Car 0.0 0 0 0 100 10 130 1.5 1.6 4 0 1.6 20 0")),
            Some(Difficulty::Moderate)
        );
        // Largely occluded: hard.
        assert_eq!(kitti_difficulty(&object("Car 0.0 2 0 0 100 10 150 1.5 1.6 4 0 1.6 20 0")), Some(Difficulty::Hard));
        // Truncated 60 %: no level.
        assert_eq!(kitti_difficulty(&object("Car 0.6 0 0 0 100 10 150 1.5 1.6 4 0 1.6 20 0")), None);
        // 20 px tall: no level.
        assert_eq!(kitti_difficulty(&object("Car 0.0 0 0 0 100 10 120 1.5 1.6 4 0 1.6 20 0")), None);
    }
}
