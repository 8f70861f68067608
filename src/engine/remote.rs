//! Inference on a remote server over the Open Inference Protocol (KServe V2, gRPC service
//! `inference.GRPCInferenceService`), as NVIDIA Triton, KServe and MLServer speak it: one
//! `ModelInfer` per batch, the letterboxed frames sent as raw bytes (UINT8 when the served
//! model normalises them itself, else FP32), the output read back as raw FP32.
//!
//! A lost server is not an error: `infer` says `Unavailable` at once until the next
//! reconnection attempt, which waits twice as long after each failure (100 ms to 5 s).

/// Code generated from proto/grpc_predict_v2.proto (KServe's definition of the protocol).
#[allow(clippy::all, clippy::pedantic)]
mod proto {
    tonic::include_proto!("inference");
}

use std::time::{Duration, Instant};

use proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use proto::model_infer_request::{InferInputTensor, InferRequestedOutputTensor};
use proto::{ModelInferRequest, ModelMetadataRequest};
use tonic::transport::{Channel, Endpoint};

use super::{Canvas, EngineError};
use super::model_check::{InputType, ModelDescription};

/// The largest message either way: a batch of 64 FP32 frames at 640 is 315 MB, so big
/// batches should use a UINT8 model (79 MB).
const MAX_MESSAGE: usize = 512 << 20;
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LONGEST_RETRY: Duration = Duration::from_secs(5);

/// Why a batch could not run remotely.
#[derive(Debug)]
pub enum RemoteError {
    /// The server cannot be reached now, or did not answer in time: the batch goes on
    /// without poses and a later batch tries again.
    Unavailable(String),
    /// The server answered, but not with what was asked for.
    Failed(String),
}

/// The server's address as a URI: `host:port`, `grpc://host:port` and `http://host:port` all
/// name the same plain-text gRPC endpoint.
pub fn uri(address: &str) -> String {
    let rest = address.strip_prefix("grpc://").or_else(|| address.strip_prefix("http://")).unwrap_or(address);
    format!("http://{rest}")
}

/// A model on an inference server.
pub struct RemoteModel {
    runtime: tokio::runtime::Runtime,
    endpoint: Endpoint,
    address: String,
    model: String,
    version: String,
    client: Option<GrpcInferenceServiceClient<Channel>>,
    input_name: String,
    output_name: String,
    /// What the served model takes: bytes or floats.
    pub input_type: InputType,
    pub num_keypoints: usize,
    /// The served model takes one input size only (then frames are sent square).
    pub fixed_size: bool,
    /// When the lost server is tried next, and the wait after that attempt if it fails.
    retry: Option<(Instant, Duration)>,
}

fn status(address: &str, what: &str) -> impl FnOnce(tonic::Status) -> String {
    let address = address.to_string();
    let what = what.to_string();
    move |s| format!("{what} at {address}: {} ({:?})", s.message(), s.code())
}

impl RemoteModel {
    /// Connects to the server at `address` (`model` or `model:version`) and checks that
    /// the model there is a pose model taking `input_size` frames. An unreachable server or
    /// a model that is not a pose model is an error naming the address.
    pub fn connect(address: &str, model: &str, input_size: usize, timeout: Duration) -> Result<RemoteModel, EngineError> {
        let unreachable = |why: String| EngineError::Runtime(format!("inference server {address} unreachable: {why}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| EngineError::Runtime(format!("cannot start the gRPC runtime: {e}")))?;
        let endpoint = Endpoint::from_shared(uri(address))
            .map_err(|e| EngineError::Runtime(format!("bad inference-server address {address}: {e}")))?
            .connect_timeout(timeout);
        let (model, version) = model.split_once(':').map_or((model, ""), |(m, v)| (m, v));
        let mut client = runtime.block_on(Self::client(&endpoint)).map_err(unreachable)?;
        let request = ModelMetadataRequest { name: model.into(), version: version.into() };
        // The timer is made inside the runtime (a tokio timer needs its context).
        let metadata = runtime
            .block_on(async { tokio::time::timeout(timeout, client.model_metadata(request)).await })
            .map_err(|_| unreachable(format!("no model metadata within {timeout:?}")))?
            .map_err(|s| EngineError::Model(status(address, &format!("model {model}"))(s)))?
            .into_inner();
        let input_type = |datatype: &str| match datatype {
            "UINT8" => Some(InputType::Uint8),
            "FP32" => Some(InputType::Float32),
            _ => None,
        };
        let description = ModelDescription {
            name: format!("model {model} at {address}"),
            inputs: metadata.inputs.iter().map(|t| (input_type(&t.datatype), t.shape.clone())).collect(),
            outputs: metadata.outputs.iter().map(|t| t.shape.clone()).collect(),
            task: None,
            kpt_shape: None,
        };
        let (input_type, num_keypoints) = super::model_check::check(&description, input_size)?;
        if metadata.outputs.first().is_some_and(|o| o.datatype != "FP32") {
            return Err(EngineError::Model(format!("{}: its output is not FP32", description.name)));
        }
        Ok(RemoteModel {
            runtime,
            endpoint,
            address: address.to_string(),
            model: model.to_string(),
            version: version.to_string(),
            client: Some(client),
            input_name: metadata.inputs[0].name.clone(),
            output_name: metadata.outputs[0].name.clone(),
            input_type,
            num_keypoints,
            fixed_size: super::model_check::has_fixed_size(&description),
            retry: None,
        })
    }

    async fn client(endpoint: &Endpoint) -> Result<GrpcInferenceServiceClient<Channel>, String> {
        let channel = endpoint.connect().await.map_err(|e| format!("{e} ({})", std::error::Error::source(&e).map_or(String::new(), |s| s.to_string())))?;
        Ok(GrpcInferenceServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE).max_encoding_message_size(MAX_MESSAGE))
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    /// Runs `n` frames letterboxed into `canvas` (`input`: their raw little-endian bytes,
    /// of the model's input type) within `timeout` (None: however long the server takes).
    /// Returns the output's shape and values.
    pub fn infer(&mut self, n: usize, canvas: Canvas, input: Vec<u8>, timeout: Option<Duration>) -> Result<(Vec<i64>, Vec<f32>), RemoteError> {
        let mut client = self.live_client(timeout)?;
        let datatype = match self.input_type {
            InputType::Uint8 => "UINT8",
            InputType::Float32 => "FP32",
        };
        let request = ModelInferRequest {
            model_name: self.model.clone(),
            model_version: self.version.clone(),
            inputs: vec![InferInputTensor {
                name: self.input_name.clone(),
                datatype: datatype.into(),
                shape: vec![n as i64, 3, canvas.height as i64, canvas.width as i64],
                ..Default::default()
            }],
            outputs: vec![InferRequestedOutputTensor { name: self.output_name.clone(), ..Default::default() }],
            raw_input_contents: vec![input],
            ..Default::default()
        };
        let answer = self.runtime.block_on(async {
            match timeout {
                Some(limit) => tokio::time::timeout(limit, client.model_infer(request)).await.map_err(|_| limit),
                None => Ok(client.model_infer(request).await),
            }
        });
        let response = match answer {
            Err(limit) => return Err(RemoteError::Unavailable(format!("no answer from {} within {limit:?}", self.address))),
            Ok(Err(s)) if is_connection_loss(&s) => {
                self.lost();
                return Err(RemoteError::Unavailable(status(&self.address, "inference")(s)));
            }
            Ok(Err(s)) => return Err(RemoteError::Failed(status(&self.address, "inference")(s))),
            Ok(Ok(r)) => r.into_inner(),
        };
        let output = response.outputs.first().ok_or_else(|| RemoteError::Failed("the answer has no output".into()))?;
        let values: Vec<f32> = match response.raw_output_contents.first() {
            Some(raw) => raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            None => output.contents.as_ref().map(|c| c.fp32_contents.clone()).unwrap_or_default(),
        };
        Ok((output.shape.clone(), values))
    }

    /// The client, reconnecting first if the server was lost and it is time to try again.
    fn live_client(&mut self, timeout: Option<Duration>) -> Result<GrpcInferenceServiceClient<Channel>, RemoteError> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let (at, wait) = self.retry.unwrap_or((Instant::now(), FIRST_RETRY));
        if Instant::now() < at {
            return Err(RemoteError::Unavailable(format!("{} lost; trying again in {:?}", self.address, at - Instant::now())));
        }
        let endpoint = self.endpoint.clone().connect_timeout(timeout.unwrap_or(LONGEST_RETRY).min(wait.max(FIRST_RETRY)));
        match self.runtime.block_on(Self::client(&endpoint)) {
            Ok(client) => {
                self.retry = None;
                self.client = Some(client.clone());
                Ok(client)
            }
            Err(why) => {
                self.retry = Some((Instant::now() + wait, (wait * 2).min(LONGEST_RETRY)));
                Err(RemoteError::Unavailable(format!("{} unreachable: {why}", self.address)))
            }
        }
    }

    /// The connection broke: drop it, and try again after the first wait.
    fn lost(&mut self) {
        self.client = None;
        self.retry = Some((Instant::now() + FIRST_RETRY, FIRST_RETRY * 2));
    }
}

/// A status that means the server went away (rather than refused the request).
fn is_connection_loss(s: &tonic::Status) -> bool {
    matches!(s.code(), tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown | tonic::Code::Aborted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_a_plain_grpc_endpoint() {
        assert_eq!(uri("127.0.0.1:8001"), "http://127.0.0.1:8001");
        assert_eq!(uri("grpc://triton.svc:8001"), "http://triton.svc:8001");
        assert_eq!(uri("http://10.0.0.5:8001"), "http://10.0.0.5:8001");
    }

    #[test]
    fn an_unreachable_server_is_an_error_naming_it() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let address = format!("127.0.0.1:{port}");
        let err = RemoteModel::connect(&address, "yolo11n-pose", 640, Duration::from_secs(2)).err().expect("no server");
        assert!(err.to_string().contains(&address) && err.to_string().contains("unreachable"), "{err}");
    }
}
