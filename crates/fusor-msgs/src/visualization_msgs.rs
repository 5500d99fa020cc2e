//! `visualization_msgs`: RViz/Foxglove markers.

use crate::builtin_interfaces::Duration;
use crate::geometry_msgs::{Point, Pose, Vector3};
use crate::ros_message;
use crate::sensor_msgs::CompressedImage;
use crate::std_msgs::{ColorRGBA, Header};
use serde::{Deserialize, Serialize};

/// `visualization_msgs/UVCoordinate`: a texture coordinate, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct UVCoordinate {
    /// Horizontal ratio of the texture width.
    pub u: f64,
    /// Vertical ratio of the texture height.
    pub v: f64,
}

/// `visualization_msgs/MeshFile`: a mesh file sent inside the message.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MeshFile {
    /// File name (its extension selects the parser).
    pub filename: String,
    /// The file bytes.
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

/// `visualization_msgs/Marker`: one shape to draw.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Marker {
    /// Time and frame of the pose.
    pub header: Header,
    /// Namespace; with `id` names the marker.
    pub ns: String,
    /// Id within the namespace.
    pub id: i32,
    /// Shape: one of `ARROW` … `ARROW_STRIP`.
    pub r#type: i32,
    /// `ADD`, `DELETE` or `DELETEALL`.
    pub action: i32,
    /// Pose of the shape in the header's frame.
    pub pose: Pose,
    /// Scale in metres (1, 1, 1 = default size).
    pub scale: Vector3,
    /// Colour.
    pub color: ColorRGBA,
    /// Time until the marker is removed; zero = forever.
    pub lifetime: Duration,
    /// Re-transform into `header.frame_id` every frame.
    pub frame_locked: bool,
    /// Points (for lists, strips and `POINTS`), metres.
    pub points: Vec<Point>,
    /// Per-point colours: empty or as many as `points`.
    pub colors: Vec<ColorRGBA>,
    /// Texture URI or `embedded://name`.
    pub texture_resource: String,
    /// Embedded texture.
    pub texture: CompressedImage,
    /// Per-vertex texture coordinates.
    pub uv_coordinates: Vec<UVCoordinate>,
    /// Text for `TEXT_VIEW_FACING`.
    pub text: String,
    /// Mesh URI or `embedded://name`.
    pub mesh_resource: String,
    /// Embedded mesh.
    pub mesh_file: MeshFile,
    /// Use the mesh's own materials.
    pub mesh_use_embedded_materials: bool,
}

impl Marker {
    /// Arrow.
    pub const ARROW: i32 = 0;
    /// Cube.
    pub const CUBE: i32 = 1;
    /// Sphere.
    pub const SPHERE: i32 = 2;
    /// Cylinder.
    pub const CYLINDER: i32 = 3;
    /// Line strip through `points`.
    pub const LINE_STRIP: i32 = 4;
    /// Line segments between pairs of `points`.
    pub const LINE_LIST: i32 = 5;
    /// A cube at each point.
    pub const CUBE_LIST: i32 = 6;
    /// A sphere at each point.
    pub const SPHERE_LIST: i32 = 7;
    /// Points.
    pub const POINTS: i32 = 8;
    /// Text facing the viewer.
    pub const TEXT_VIEW_FACING: i32 = 9;
    /// Mesh from `mesh_resource`.
    pub const MESH_RESOURCE: i32 = 10;
    /// Triangles from `points`.
    pub const TRIANGLE_LIST: i32 = 11;
    /// Arrow strip (currently unimplemented in RViz).
    pub const ARROW_STRIP: i32 = 12;
    /// Add or modify.
    pub const ADD: i32 = 0;
    /// Same as `ADD`.
    pub const MODIFY: i32 = 0;
    /// Delete the marker `ns`/`id`.
    pub const DELETE: i32 = 2;
    /// Delete all markers (of `ns` if set).
    pub const DELETEALL: i32 = 3;
}

/// `visualization_msgs/MarkerArray`: several markers at once.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MarkerArray {
    /// The markers.
    pub markers: Vec<Marker>,
}

ros_message!(UVCoordinate, "visualization_msgs", "UVCoordinate");
ros_message!(MeshFile, "visualization_msgs", "MeshFile");
ros_message!(Marker, "visualization_msgs", "Marker");
ros_message!(MarkerArray, "visualization_msgs", "MarkerArray");
