fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst_plugin_version_helper::info();
    // The client of the Open Inference Protocol (KServe V2 gRPC), from its definition; protox
    // compiles the .proto in Rust, so no protoc is needed.
    let descriptors = protox::compile(["proto/grpc_predict_v2.proto"], ["proto"])?;
    tonic_prost_build::configure().build_server(false).build_client(true).compile_fds(descriptors)?;
    println!("cargo:rerun-if-changed=proto/grpc_predict_v2.proto");
    Ok(())
}
