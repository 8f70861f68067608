//! Is this a YOLO-pose model the engine can run? The same check for a local ONNX file and
//! for a model a remote server describes: one image input [batch, 3, height, width] of
//! floats (or of bytes, for a server that normalises them itself), one output
//! [batch, 5 + 3k, anchors], and a fixed input side, if any, equal to `input-size`.

use super::EngineError;

/// The element type of the model's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputType {
    /// 0..1 floats (what an ONNX file of the model takes).
    Float32,
    /// 0..255 bytes, normalised by the served model (a quarter of the bytes on the wire).
    Uint8,
}

/// What a model says about itself: its name for messages, its input and output shapes (-1
/// for a variable dimension) and, when it tells, its task and keypoint shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelDescription {
    pub name: String,
    /// One entry per input: its element type (None when not one the engine sends) and shape.
    pub inputs: Vec<(Option<InputType>, Vec<i64>)>,
    pub outputs: Vec<Vec<i64>>,
    pub task: Option<String>,
    /// e.g. "[17, 3]"
    pub kpt_shape: Option<String>,
}

/// The model's keypoint count from its `kpt_shape` metadata (e.g. "[17, 3]").
fn parse_kpt_shape(text: &str) -> Option<(usize, usize)> {
    let nums: Vec<usize> = text
        .trim_matches(|c| c == '[' || c == ']' || c == '(' || c == ')')
        .split(',')
        .map(|s| s.trim().parse().ok())
        .collect::<Option<_>>()?;
    match nums.as_slice() {
        [k, d] => Some((*k, *d)),
        _ => None,
    }
}

/// Checks the model; returns its input type and keypoint count.
pub fn check(model: &ModelDescription, input_size: usize) -> Result<(InputType, usize), EngineError> {
    let bad = |why: String| EngineError::Model(format!("{} is not a YOLO pose model: {why}", model.name));
    if let Some(task) = &model.task
        && task != "pose"
    {
        return Err(bad(format!("its task is \"{task}\"")));
    }
    let [(input_type, dims)] = model.inputs.as_slice() else {
        return Err(bad(format!("it has {} inputs, one image input expected", model.inputs.len())));
    };
    let input_type = input_type.ok_or_else(|| bad("its input is neither float32 nor uint8".into()))?;
    if dims.len() != 4 || !(dims[1] == 3 || dims[1] < 0) {
        return Err(bad(format!("input shape {dims:?}, [batch, 3, height, width] expected")));
    }
    let Some(out_dims) = model.outputs.first() else {
        return Err(bad("it has no output".into()));
    };
    // The keypoint count: from the metadata, else from the output's channels (5 + 3k).
    let num_keypoints = match model.kpt_shape.as_deref().map(parse_kpt_shape) {
        Some(Some((k, 3))) => k,
        Some(_) => return Err(bad("its kpt_shape is not [k, 3]".into())),
        None => match out_dims.get(1) {
            Some(&c) if c > 5 && (c - 5) % 3 == 0 => ((c - 5) / 3) as usize,
            _ => 17,
        },
    };
    let channels = 5 + 3 * num_keypoints as i64;
    if out_dims.len() != 3 || !(out_dims[1] == channels || out_dims[1] < 0) {
        return Err(bad(format!("output shape {out_dims:?}, [batch, {channels}, anchors] expected")));
    }
    // A pose model with a fixed input size needs input-size to match.
    for &side in &dims[2..] {
        if side > 0 && side as usize != input_size {
            return Err(EngineError::Model(format!("{} takes {side}x{side} input only; set input-size={side}", model.name)));
        }
    }
    Ok((input_type, num_keypoints))
}

/// True when the model's input height or width is fixed (a model exported for one size).
pub fn has_fixed_size(model: &ModelDescription) -> bool {
    model.inputs.first().is_some_and(|(_, dims)| dims.len() == 4 && dims[2..].iter().any(|&side| side > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yolo(input: InputType) -> ModelDescription {
        ModelDescription {
            name: "m".into(),
            inputs: vec![(Some(input), vec![-1, 3, -1, -1])],
            outputs: vec![vec![-1, 56, -1]],
            task: None,
            kpt_shape: None,
        }
    }

    #[test]
    fn pose_models_pass_and_others_say_why_not() {
        assert_eq!(check(&yolo(InputType::Float32), 640), Ok((InputType::Float32, 17)));
        assert_eq!(check(&yolo(InputType::Uint8), 320), Ok((InputType::Uint8, 17)));
        let identity = ModelDescription { outputs: vec![vec![-1, 3, 640, 640]], ..yolo(InputType::Float32) };
        assert!(matches!(check(&identity, 640), Err(EngineError::Model(m)) if m.contains("output shape")));
        let detector = ModelDescription { task: Some("detect".into()), ..yolo(InputType::Float32) };
        assert!(matches!(check(&detector, 640), Err(EngineError::Model(m)) if m.contains("\"detect\"")));
        let fixed = ModelDescription { inputs: vec![(Some(InputType::Float32), vec![1, 3, 640, 640])], ..yolo(InputType::Float32) };
        assert!(matches!(check(&fixed, 320), Err(EngineError::Model(m)) if m.contains("input-size=640")));
        let other = ModelDescription { inputs: vec![(None, vec![-1, 3, -1, -1])], ..yolo(InputType::Float32) };
        assert!(check(&other, 640).is_err());
        assert!(has_fixed_size(&fixed) && !has_fixed_size(&yolo(InputType::Float32)), "fixed sides are told apart");
    }
}
