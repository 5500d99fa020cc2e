//! The camera against the ground truth and the lidar: projected boxes cover the rendered object
//! pixels, and each object's lidar points land on its pixels.

use fusor_core::ObjectClass;
use fusor_sim::world::GtObject;
use fusor_sim::{Drive, Scenario};
use nalgebra::{Point3, Vector3};

/// Convex hull (counter-clockwise, monotone chain) of pixel points.
fn hull(mut pts: Vec<[f64; 2]>) -> Vec<[f64; 2]> {
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let cross = |o: [f64; 2], a: [f64; 2], b: [f64; 2]| (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    let mut h: Vec<[f64; 2]> = Vec::new();
    for pass in 0..2 {
        let start = h.len();
        let iter: Box<dyn Iterator<Item = &[f64; 2]>> =
            if pass == 0 { Box::new(pts.iter()) } else { Box::new(pts.iter().rev()) };
        for &p in iter {
            while h.len() >= start + 2 && cross(h[h.len() - 2], h[h.len() - 1], p) <= 0.0 {
                h.pop();
            }
            h.push(p);
        }
        h.pop();
    }
    h
}

fn inside(h: &[[f64; 2]], p: [f64; 2]) -> bool {
    (0..h.len()).all(|i| {
        let (a, b) = (h[i], h[(i + 1) % h.len()]);
        (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0.0
    })
}

fn rect_iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: [f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    iw * ih / (area(a) + area(b) - iw * ih)
}

/// Objects the camera sees whole and unoccluded at drive time `t`, with their projected hull.
fn clearly_visible(drive: &Drive, t: f64, min_height_px: f64) -> Vec<(GtObject, Vec<[f64; 2]>)> {
    clearly_visible_from(drive, t, drive.map_from_camera(t), min_height_px)
}

/// [`clearly_visible`] for a camera with the front camera's intrinsics at `map_from_camera`.
fn clearly_visible_from(
    drive: &Drive,
    t: f64,
    map_from_camera: nalgebra::Isometry3<f64>,
    min_height_px: f64,
) -> Vec<(GtObject, Vec<[f64; 2]>)> {
    let scene = drive.world().scene_at(t);
    let camera_from_map = map_from_camera.inverse();
    let k = drive.rig().camera_intrinsics;
    let ego = drive.ego().map_from_base_link(t).translation.vector;
    let objects: Vec<GtObject> =
        drive.world().objects_at(t).into_iter().filter(|o| (o.bbox.center.coords - ego).xy().norm() < 60.0).collect();
    let vis = drive.camera().visibility(&scene, &map_from_camera, &objects);
    objects
        .into_iter()
        .zip(vis)
        .filter(|(_, v)| v.fraction >= 0.98)
        .filter_map(|(o, _)| {
            let pts: Option<Vec<[f64; 2]>> = o
                .bbox
                .corners()
                .iter()
                .map(|c| {
                    let p = camera_from_map * c;
                    k.project([p.x, p.y, p.z])
                })
                .collect();
            let pts = pts?;
            let (w, h) = (f64::from(k.width), f64::from(k.height));
            let whole = pts.iter().all(|p| p[0] > 3.0 && p[0] < w - 4.0 && p[1] > 3.0 && p[1] < h - 4.0);
            let height =
                pts.iter().map(|p| p[1]).fold(f64::MIN, f64::max) - pts.iter().map(|p| p[1]).fold(f64::MAX, f64::min);
            (whole && height >= min_height_px).then(|| (o, hull(pts)))
        })
        .collect()
}

#[test]
fn projected_ground_truth_boxes_cover_the_rendered_object_pixels() {
    let (mut rect_ious, mut hull_ious, mut coverages, mut people) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (seed, times) in [(7u64, [0.5, 3.0, 6.0]), (21, [1.0, 4.0, 8.0]), (33, [0.5, 2.5, 5.0])] {
        let drive = Drive::new(&Scenario::new(seed, 9.0)).unwrap();
        for t in times {
            let objects = clearly_visible(&drive, t, 30.0);
            if objects.is_empty() {
                continue;
            }
            let (img, ids) = drive.camera_frame_with_ids(t, drive.stamp_at(t), 0, true);
            let w = img.width as usize;
            for (o, h) in &objects {
                let (mut mask, mut both, mut in_hull) = (0usize, 0usize, 0usize);
                let mut m_rect = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
                for (i, &id) in ids.iter().enumerate() {
                    let p = [(i % w) as f64, (i / w) as f64];
                    let hit = id == o.id;
                    let inh = inside(h, p);
                    mask += usize::from(hit);
                    in_hull += usize::from(inh);
                    both += usize::from(hit && inh);
                    if hit {
                        // Pixel squares, so a rectangle of n pixels spans n pixels.
                        m_rect = [
                            m_rect[0].min(p[0] - 0.5),
                            m_rect[1].min(p[1] - 0.5),
                            m_rect[2].max(p[0] + 0.5),
                            m_rect[3].max(p[1] + 0.5),
                        ];
                    }
                }
                assert!(mask > 0, "object {} ({:?}) visible but not rendered", o.id, o.class);
                let h_rect = h.iter().fold([f64::MAX, f64::MAX, f64::MIN, f64::MIN], |r, p| {
                    [r[0].min(p[0]), r[1].min(p[1]), r[2].max(p[0]), r[3].max(p[1])]
                });
                let coverage = both as f64 / mask as f64;
                let rect = rect_iou(m_rect, h_rect);
                eprintln!(
                    "seed {seed} t {t}: {:?} {} {mask} px: covered {coverage:.3}, box IoU {rect:.3}, hull IoU {:.3}",
                    o.class,
                    o.id,
                    both as f64 / (mask + in_hull - both) as f64
                );
                // The default camera casts one ray per 2 × 2 pixels: edge blocks overhang by a pixel.
                assert!(coverage >= 0.95, "object {} pixels outside its projected box: {coverage}", o.id);
                // Cars fill their boxes, so the box's image rectangle is the mask's. People are
                // round in a square box: seen corner-on, the box is up to √2 wider than they are.
                let min_iou = if o.class == ObjectClass::Car { 0.9 } else { 0.6 };
                assert!(rect >= min_iou, "object {} ({:?}): 2D box IoU {rect}", o.id, o.class);
                coverages.push(coverage);
                let hull_iou = both as f64 / (mask + in_hull - both) as f64;
                if o.class == ObjectClass::Car {
                    rect_ious.push(rect);
                    hull_ious.push(hull_iou);
                } else {
                    people.push(rect);
                }
            }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    eprintln!(
        "{} objects: coverage mean {:.3}; cars ({}): 2D box IoU mean {:.3} min {:.3}, hull IoU mean {:.3}; \
         people ({}): 2D box IoU mean {:.3}",
        coverages.len(),
        mean(&coverages),
        rect_ious.len(),
        mean(&rect_ious),
        rect_ious.iter().copied().fold(1.0, f64::min),
        mean(&hull_ious),
        people.len(),
        mean(&people)
    );
    assert!(rect_ious.len() >= 6, "only {} clearly visible cars", rect_ious.len());
}

#[test]
fn lidar_points_of_an_object_land_on_its_camera_pixels() {
    let mut checked = 0;
    for (seed, index) in [(7u64, 5u64), (7, 30), (21, 10), (21, 40), (33, 20)] {
        let mut drive = Drive::new(&Scenario::new(seed, 4.5)).unwrap();
        let t0 = index as f64 / 10.0;
        // The camera exposes mid-sweep.
        let t_cam = t0 + 0.05;
        let scan = drive.lidar_scan(index).clone();
        let candidates: Vec<u32> = clearly_visible(&drive, t_cam, 25.0).iter().map(|(o, _)| o.id).collect();
        let (_, ids) = drive.camera_frame_with_ids(t_cam, drive.stamp_at(t_cam), 0, true);
        let k = drive.rig().camera_intrinsics;
        let camera_from_map = drive.map_from_camera(t_cam).inverse();
        let times = scan.cloud.time_offset_s.as_ref().unwrap();
        for id in candidates {
            let Some(actor) = drive.world().actors().iter().find(|a| a.id == id) else { continue };
            // Each point into the object's body frame at its own time: the centroid there is
            // where the lidar says the object's surface is, free of ego and object motion.
            let body = |t: f64| {
                let st = drive.world().actor_state(actor, t);
                let z = drive.world().ground().height(st.xy[0], st.xy[1]);
                nalgebra::Isometry3::new(Vector3::new(st.xy[0], st.xy[1], z), Vector3::z() * st.yaw_rad)
            };
            let mut sum = Vector3::zeros();
            let mut n = 0;
            for (i, _) in scan.point_object_ids.iter().enumerate().filter(|(_, &pid)| pid == id) {
                let t = t0 + f64::from(times[i]);
                let p_map = drive.map_from_lidar(t) * scan.cloud.point(i).unwrap().cast::<f64>();
                sum += (body(t).inverse() * p_map).coords;
                n += 1;
            }
            if n < 40 {
                continue;
            }
            let centroid_map: Point3<f64> = body(t_cam) * Point3::from(sum / f64::from(n));
            let p = camera_from_map * centroid_map;
            let [u, v] = k.project([p.x, p.y, p.z]).unwrap();
            let w = k.width as usize;
            let near = (-1i64..=1).flat_map(|dv| (-1i64..=1).map(move |du| (du, dv))).any(|(du, dv)| {
                let (uu, vv) = (u.round() as i64 + du, v.round() as i64 + dv);
                uu >= 0
                    && vv >= 0
                    && (uu as usize) < w
                    && (vv as u32) < k.height
                    && ids[vv as usize * w + uu as usize] == id
            });
            eprintln!(
                "seed {seed}: {:?} {id}: {n} points, centroid at ({u:.1}, {v:.1}) on its pixels: {near}",
                actor.class
            );
            assert!(near, "lidar centroid of object {id} ({:?}) projects off its camera pixels", actor.class);
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} objects checked");
}

#[test]
fn side_cameras_render_what_their_mounts_see() {
    let drive = Drive::new(&Scenario::new(7, 9.0)).unwrap();
    let mounts = drive.rig().surround_cameras();
    // The front mount through the general path is the front camera, noise and all.
    let t = 2.0;
    let stamp = drive.stamp_at(t);
    assert_eq!(
        drive.camera_frame_from(&mounts[0].1, 0, t, stamp, 3, true),
        drive.camera_frame_with_ids(t, stamp, 3, true)
    );
    let (mut checked, mut only_beside) = (0, 0);
    for t in [0.5, 2.5, 4.5, 6.5, 8.5] {
        let front: Vec<u32> = clearly_visible(&drive, t, 20.0).iter().map(|(o, _)| o.id).collect();
        for (k, (_, mount)) in mounts.iter().enumerate().skip(1) {
            let map_from_camera = drive.ego().map_from_base_link(t) * mount;
            let objects = clearly_visible_from(&drive, t, map_from_camera, 20.0);
            let (img, ids) = drive.camera_frame_from(mount, k as u64, t, drive.stamp_at(t), 0, true);
            // Another noise stream: not the front camera's pixels.
            assert_ne!(img, drive.camera_frame(t, drive.stamp_at(t), 0));
            let w = img.width as usize;
            for (o, h) in &objects {
                let (mut mask, mut in_hull) = (0usize, 0usize);
                for (i, _) in ids.iter().enumerate().filter(|(_, &id)| id == o.id) {
                    mask += 1;
                    in_hull += usize::from(inside(h, [(i % w) as f64, (i / w) as f64]));
                }
                assert!(mask > 0, "object {} ({:?}) visible to camera {k} but not rendered", o.id, o.class);
                assert!(in_hull as f64 >= 0.9 * mask as f64, "object {}: {in_hull} of {mask} pixels in its hull", o.id);
                checked += 1;
                only_beside += usize::from(!front.contains(&o.id));
            }
        }
    }
    assert!(checked >= 5 && only_beside >= 3, "{checked} objects checked, {only_beside} unseen by the front camera");
}
