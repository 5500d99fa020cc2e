//! `.msg` schema texts and the `ros2msg` full-definition builder.
//!
//! Texts are the ROS 2 (Humble/Jazzy) definitions with comments, blank lines and default values
//! trimmed and every complex type fully qualified (`geometry_msgs/Pose`, not `Pose`): the same
//! normalised form the `rosbags` library writes into MCAP schemas, which tests compare against.

/// The separator line between sections of a full definition.
const SEPARATOR: &str = "================================================================================";

/// The `.msg` text of a type named `pkg/Type`, `None` for an unknown type.
pub(crate) fn msg_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "builtin_interfaces/Time" => "int32 sec\nuint32 nanosec\n",
        "builtin_interfaces/Duration" => "int32 sec\nuint32 nanosec\n",
        "std_msgs/Header" => "builtin_interfaces/Time stamp\nstring frame_id\n",
        "std_msgs/ColorRGBA" => "float32 r\nfloat32 g\nfloat32 b\nfloat32 a\n",
        "geometry_msgs/Point" => "float64 x\nfloat64 y\nfloat64 z\n",
        "geometry_msgs/Vector3" => "float64 x\nfloat64 y\nfloat64 z\n",
        "geometry_msgs/Quaternion" => "float64 x\nfloat64 y\nfloat64 z\nfloat64 w\n",
        "geometry_msgs/Pose" => "geometry_msgs/Point position\ngeometry_msgs/Quaternion orientation\n",
        "geometry_msgs/PoseStamped" => "std_msgs/Header header\ngeometry_msgs/Pose pose\n",
        "geometry_msgs/PoseWithCovariance" => "geometry_msgs/Pose pose\nfloat64[36] covariance\n",
        "geometry_msgs/Transform" => "geometry_msgs/Vector3 translation\ngeometry_msgs/Quaternion rotation\n",
        "geometry_msgs/TransformStamped" => {
            "std_msgs/Header header\nstring child_frame_id\ngeometry_msgs/Transform transform\n"
        }
        "geometry_msgs/Twist" => "geometry_msgs/Vector3 linear\ngeometry_msgs/Vector3 angular\n",
        "geometry_msgs/TwistStamped" => "std_msgs/Header header\ngeometry_msgs/Twist twist\n",
        "sensor_msgs/PointField" => {
            "uint8 INT8=1\nuint8 UINT8=2\nuint8 INT16=3\nuint8 UINT16=4\nuint8 INT32=5\nuint8 UINT32=6\n\
             uint8 FLOAT32=7\nuint8 FLOAT64=8\nstring name\nuint32 offset\nuint8 datatype\nuint32 count\n"
        }
        "sensor_msgs/PointCloud2" => {
            "std_msgs/Header header\nuint32 height\nuint32 width\nsensor_msgs/PointField[] fields\n\
             bool is_bigendian\nuint32 point_step\nuint32 row_step\nuint8[] data\nbool is_dense\n"
        }
        "sensor_msgs/Image" => {
            "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\n\
             uint32 step\nuint8[] data\n"
        }
        "sensor_msgs/CompressedImage" => "std_msgs/Header header\nstring format\nuint8[] data\n",
        "sensor_msgs/RegionOfInterest" => {
            "uint32 x_offset\nuint32 y_offset\nuint32 height\nuint32 width\nbool do_rectify\n"
        }
        "sensor_msgs/CameraInfo" => {
            "std_msgs/Header header\nuint32 height\nuint32 width\nstring distortion_model\nfloat64[] d\n\
             float64[9] k\nfloat64[9] r\nfloat64[12] p\nuint32 binning_x\nuint32 binning_y\n\
             sensor_msgs/RegionOfInterest roi\n"
        }
        "sensor_msgs/NavSatStatus" => {
            "int8 STATUS_NO_FIX=-1\nint8 STATUS_FIX=0\nint8 STATUS_SBAS_FIX=1\nint8 STATUS_GBAS_FIX=2\n\
             uint16 SERVICE_GPS=1\nuint16 SERVICE_GLONASS=2\nuint16 SERVICE_COMPASS=4\nuint16 SERVICE_GALILEO=8\n\
             int8 status\nuint16 service\n"
        }
        "sensor_msgs/NavSatFix" => {
            "uint8 COVARIANCE_TYPE_UNKNOWN=0\nuint8 COVARIANCE_TYPE_APPROXIMATED=1\n\
             uint8 COVARIANCE_TYPE_DIAGONAL_KNOWN=2\nuint8 COVARIANCE_TYPE_KNOWN=3\n\
             std_msgs/Header header\nsensor_msgs/NavSatStatus status\nfloat64 latitude\nfloat64 longitude\n\
             float64 altitude\nfloat64[9] position_covariance\nuint8 position_covariance_type\n"
        }
        "sensor_msgs/Imu" => {
            "std_msgs/Header header\ngeometry_msgs/Quaternion orientation\nfloat64[9] orientation_covariance\n\
             geometry_msgs/Vector3 angular_velocity\nfloat64[9] angular_velocity_covariance\n\
             geometry_msgs/Vector3 linear_acceleration\nfloat64[9] linear_acceleration_covariance\n"
        }
        "tf2_msgs/TFMessage" => "geometry_msgs/TransformStamped[] transforms\n",
        "vision_msgs/ObjectHypothesis" => "string class_id\nfloat64 score\n",
        "vision_msgs/ObjectHypothesisWithPose" => {
            "vision_msgs/ObjectHypothesis hypothesis\ngeometry_msgs/PoseWithCovariance pose\n"
        }
        "vision_msgs/BoundingBox3D" => "geometry_msgs/Pose center\ngeometry_msgs/Vector3 size\n",
        "vision_msgs/Detection3D" => {
            "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n\
             vision_msgs/BoundingBox3D bbox\nstring id\n"
        }
        "vision_msgs/Detection3DArray" => "std_msgs/Header header\nvision_msgs/Detection3D[] detections\n",
        "nav_msgs/Path" => "std_msgs/Header header\ngeometry_msgs/PoseStamped[] poses\n",
        "visualization_msgs/UVCoordinate" => "float64 u\nfloat64 v\n",
        "visualization_msgs/MeshFile" => "string filename\nuint8[] data\n",
        "visualization_msgs/Marker" => {
            "int32 ARROW=0\nint32 CUBE=1\nint32 SPHERE=2\nint32 CYLINDER=3\nint32 LINE_STRIP=4\n\
             int32 LINE_LIST=5\nint32 CUBE_LIST=6\nint32 SPHERE_LIST=7\nint32 POINTS=8\n\
             int32 TEXT_VIEW_FACING=9\nint32 MESH_RESOURCE=10\nint32 TRIANGLE_LIST=11\nint32 ARROW_STRIP=12\n\
             int32 ADD=0\nint32 MODIFY=0\nint32 DELETE=2\nint32 DELETEALL=3\n\
             std_msgs/Header header\nstring ns\nint32 id\nint32 type\nint32 action\n\
             geometry_msgs/Pose pose\ngeometry_msgs/Vector3 scale\nstd_msgs/ColorRGBA color\n\
             builtin_interfaces/Duration lifetime\nbool frame_locked\ngeometry_msgs/Point[] points\n\
             std_msgs/ColorRGBA[] colors\nstring texture_resource\nsensor_msgs/CompressedImage texture\n\
             visualization_msgs/UVCoordinate[] uv_coordinates\nstring text\nstring mesh_resource\n\
             visualization_msgs/MeshFile mesh_file\nbool mesh_use_embedded_materials\n"
        }
        "visualization_msgs/MarkerArray" => "visualization_msgs/Marker[] markers\n",
        "diagnostic_msgs/KeyValue" => "string key\nstring value\n",
        "diagnostic_msgs/DiagnosticStatus" => {
            "byte OK=0\nbyte WARN=1\nbyte ERROR=2\nbyte STALE=3\nbyte level\nstring name\nstring message\n\
             string hardware_id\ndiagnostic_msgs/KeyValue[] values\n"
        }
        "diagnostic_msgs/DiagnosticArray" => "std_msgs/Header header\ndiagnostic_msgs/DiagnosticStatus[] status\n",
        _ => return None,
    })
}

/// The complex (non-primitive) types a `.msg` text refers to, in field order, as `pkg/Type`.
pub(crate) fn referenced_types(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|line| {
        let ty = line.split_whitespace().next()?;
        let ty = ty.split('[').next().unwrap_or(ty);
        ty.contains('/').then_some(ty)
    })
}

/// The full `ros2msg` definition of `pkg/Type`, or the name of the first type without a text.
///
/// Dependencies follow in depth-first pre-order of first use, each once (the order rosbag2 and
/// `rosbags` write).
pub(crate) fn try_full_definition(name: &str) -> Result<String, String> {
    let root = msg_text(name).ok_or_else(|| name.to_owned())?;
    let mut out = String::from(root);
    let mut seen: Vec<&str> = vec![name];
    // Explicit stack of iterators instead of recursion: definitions are shallow, but this keeps
    // the order obviously pre-order.
    let mut stack = vec![referenced_types(root)];
    while let Some(top) = stack.last_mut() {
        let Some(dep) = top.next() else {
            stack.pop();
            continue;
        };
        if seen.contains(&dep) {
            continue;
        }
        seen.push(dep);
        let text = msg_text(dep).ok_or_else(|| dep.to_owned())?;
        out.push_str(SEPARATOR);
        out.push_str("\nMSG: ");
        out.push_str(dep);
        out.push('\n');
        out.push_str(text);
        stack.push(referenced_types(text));
    }
    Ok(out)
}

/// The full definition of `pkg/Type`. Every type of this crate resolves (tested), so the fallback,
/// the bare text, is unreachable in practice.
pub(crate) fn full_definition(name: &str) -> String {
    try_full_definition(name).unwrap_or_else(|_| msg_text(name).unwrap_or_default().to_owned())
}
