//! The `metrics-address` endpoint: `GET /metrics` in the Prometheus text format
//! (OpenMetrics when the scraper asks for it, as Prometheus does), served by hyper on a
//! single-threaded tokio runtime in one thread, for every posebatch element of the process
//! that names the same address. The first element to name an address opens it (a busy
//! port is that element's error), the last one to let go closes it and joins its thread:
//! nothing of it is left running.

pub mod exposition;
pub mod snapshot;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;

use exposition::{PoseBatchCollector, Snapshots};
use prometheus_client::registry::Registry;
pub use snapshot::{ElementSnapshot, Histogram, LATENCY_BUCKETS, StreamSnapshot};

/// What takes one element's snapshot; None once the element is gone.
pub type Source = Box<dyn Fn() -> Option<ElementSnapshot> + Send + Sync>;

type Sources = Arc<Mutex<Vec<(u64, Source)>>>;

/// An open address and the elements it serves.
struct Endpoint {
    /// Where it listens (the port the system chose when asked for port 0).
    local_address: String,
    sources: Sources,
    next_id: Mutex<u64>,
    stop: Arc<tokio::sync::Notify>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.stop.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The open endpoints, by address.
static ENDPOINTS: Mutex<Option<HashMap<String, Weak<Endpoint>>>> = Mutex::new(None);

/// An element's place on an endpoint: dropping it takes the element off, and closes the
/// endpoint when no element is left on it.
pub struct Registration {
    endpoint: Arc<Endpoint>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.endpoint.sources.lock().unwrap().retain(|(id, _)| *id != self.id);
    }
}

impl Registration {
    /// The address the endpoint listens on (with the port the system chose for port 0).
    pub fn local_address(&self) -> &str {
        &self.endpoint.local_address
    }
}

/// Puts an element (`source`) on the endpoint at `address` (HOST:PORT), opening it if no
/// element has. Err says why the address cannot be served (in use, malformed).
pub fn register(address: &str, source: Source) -> Result<Registration, String> {
    let mut endpoints = ENDPOINTS.lock().unwrap();
    let endpoints = endpoints.get_or_insert_with(HashMap::new);
    endpoints.retain(|_, endpoint| endpoint.strong_count() > 0);
    let endpoint = match endpoints.get(address).and_then(Weak::upgrade) {
        Some(open) => open,
        None => {
            let open = Arc::new(open(address)?);
            // Known by the address asked for and by the one it got (they differ for port 0).
            endpoints.insert(address.to_string(), Arc::downgrade(&open));
            endpoints.insert(open.local_address.clone(), Arc::downgrade(&open));
            open
        }
    };
    let id = {
        let mut next = endpoint.next_id.lock().unwrap();
        *next += 1;
        *next
    };
    endpoint.sources.lock().unwrap().push((id, source));
    Ok(Registration { endpoint, id })
}

fn open(address: &str) -> Result<Endpoint, String> {
    let cannot = |e: &dyn std::fmt::Display| format!("cannot serve metrics on {address}: {e}");
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_io().build().map_err(|e| cannot(&e))?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind(address)).map_err(|e| cannot(&e))?;
    let local_address = listener.local_addr().map_err(|e| cannot(&e))?.to_string();
    let sources: Sources = Arc::new(Mutex::new(Vec::new()));
    let snapshots: Snapshots = {
        let sources = sources.clone();
        Box::new(move || sources.lock().unwrap().iter().filter_map(|(_, take)| take()).collect())
    };
    let registry = Arc::new(exposition::registry(PoseBatchCollector(snapshots)));
    let stop = Arc::new(tokio::sync::Notify::new());
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("posebatch-metrics".into())
            .spawn(move || runtime.block_on(serve(listener, registry, stop)))
            .map_err(|e| cannot(&e))?
    };
    Ok(Endpoint { local_address, sources, next_id: Mutex::new(0), stop, thread: Some(thread) })
}

/// Accepts connections until told to stop; each is served as its own task on this
/// thread's runtime (a scraper keeping its connection open holds up no one), and all of
/// them end with the runtime.
async fn serve(listener: tokio::net::TcpListener, registry: Arc<Registry>, stop: Arc<tokio::sync::Notify>) {
    loop {
        let stream = tokio::select! {
            _ = stop.notified() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let registry = registry.clone();
        let service = hyper::service::service_fn(move |request| {
            let answer = respond(&request, &registry);
            async move { Ok::<_, std::convert::Infallible>(answer) }
        });
        let connection = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

type Body = http_body_util::Full<hyper::body::Bytes>;

/// `GET /metrics`: the metrics, OpenMetrics when the `Accept` header asks for it; else 404.
fn respond(request: &hyper::Request<hyper::body::Incoming>, registry: &Registry) -> hyper::Response<Body> {
    let reply = |status: u16, content_type: &str, body: String| {
        hyper::Response::builder()
            .status(status)
            .header("Content-Type", content_type)
            .body(Body::from(body))
            .expect("a valid response")
    };
    if request.method() != hyper::Method::GET || request.uri().path() != "/metrics" {
        return reply(404, "text/plain", "posebatch serves GET /metrics\n".into());
    }
    let openmetrics = request
        .headers()
        .get_all(hyper::header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.contains("application/openmetrics-text")));
    match exposition::render(registry, openmetrics) {
        Ok(body) if openmetrics => reply(200, "application/openmetrics-text; version=1.0.0; charset=utf-8", body),
        Ok(body) => reply(200, "text/plain; version=0.0.4; charset=utf-8", body),
        Err(_) => reply(500, "text/plain", "encoding the metrics failed\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(address: &str, accept: &str) -> String {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(stream, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    fn element(name: &str) -> Source {
        let name = name.to_string();
        Box::new(move || Some(ElementSnapshot { element: name.clone(), provider: "cpu".into(), ..Default::default() }))
    }

    #[test]
    fn elements_share_an_address_and_the_last_one_closes_it() {
        let first = register("127.0.0.1:0", element("a")).unwrap();
        let address = first.local_address().to_string();
        // This process's metrics threads (by name: other tests run threads of their own).
        let threads = || {
            std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter(|t| std::fs::read_to_string(t.as_ref().unwrap().path().join("comm")).is_ok_and(|c| c.trim() == "posebatch-metri"))
                .count()
        };
        // The second names the port the first got.
        let second = register(&address, element("b")).unwrap();
        let third = register(&address, element("c")).unwrap();
        let body = get(&address, "application/openmetrics-text");
        assert!(body.contains("openmetrics-text") && body.contains("element=\"b\"") && body.contains("element=\"c\""), "{body}");
        drop(third);
        let body = get(&address, "text/plain");
        assert!(body.contains("version=0.0.4") && !body.contains("element=\"c\""), "{body}");
        assert_eq!(threads(), 1, "one thread serves the address");
        drop((first, second));
        assert!(std::net::TcpStream::connect(&address).is_err(), "closed with the last element");
        assert_eq!(threads(), 0, "its thread joined, nothing left behind");
    }

    #[test]
    fn a_busy_port_is_an_error_naming_it() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap().to_string();
        let err = register(&address, element("a")).err().expect("the port is taken");
        assert!(err.contains(&address), "{err}");
    }
}
