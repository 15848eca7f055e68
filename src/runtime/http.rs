//! The HTTP endpoints (actix-web, one worker; loopback by default): liveness, readiness,
//! Prometheus metrics and the nodes' verdicts.
//!
//! | path                 | answer                                                          |
//! |----------------------|-----------------------------------------------------------------|
//! | `/healthz`           | 200 while the process serves                                    |
//! | `/readyz`            | 200 once the sources listen, 503 before and while stopping      |
//! | `/metrics`           | Prometheus text                                                 |
//! | `/api/v1/nodes`      | every judged node: status, class, alarm                         |
//! | `/api/v1/nodes/{id}` | the current verdict, the last window of verdicts, the alarm, monitoring |
//!
//! Monitoring, samples and models: `http_lifecycle.rs`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;

use crate::api::NodeBoard;
use crate::store::Store;
use crate::telemetry::Metrics;

/// What the appliance is ready for.
#[derive(Debug, Default)]
pub struct Readiness {
    /// The sources listen.
    pub listening: AtomicBool,
    /// A stop began.
    pub stopping: AtomicBool,
}

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The nodes' recent verdicts.
    pub board: Arc<RwLock<NodeBoard>>,
    /// The state database (outbox depth).
    pub store: Arc<Store>,
    /// Readiness.
    pub readiness: Arc<Readiness>,
    /// Where model changes go (the judge), when models can change while running.
    pub models: Option<actix::Recipient<super::messages::ModelRequest>>,
    /// Whether changes (models, labels) are accepted (`http.allow_changes`).
    pub allow_changes: bool,
}

/// Binds `listen` and serves on the running actix system; returns the handle that stops the
/// server and the address it is bound to.
pub fn spawn_http(
    listen: SocketAddr,
    state: HttpState,
) -> std::io::Result<(ServerHandle, SocketAddr)> {
    let up = state.metrics.up.with_label_values(&["http"]);
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .route("/api/v1/nodes", web::get().to(nodes))
            .route("/api/v1/nodes/{id}", web::get().to(node))
            .configure(super::http_lifecycle::routes)
    })
    .workers(1)
    // The appliance handles SIGTERM itself (drain, checkpoint, flush).
    .disable_signals()
    .shutdown_timeout(2)
    .bind(listen)?;
    let bound = server.addrs().first().copied().unwrap_or(listen);
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    tracing::info!(listen = %bound, "serving HTTP: /healthz /readyz /metrics /api/v1/nodes");
    up.set(1);
    Ok((handle, bound))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn readyz(state: web::Data<HttpState>) -> HttpResponse {
    let listening = state.readiness.listening.load(Ordering::Relaxed);
    let stopping = state.readiness.stopping.load(Ordering::Relaxed);
    let body = json!({
        "ready": listening && !stopping,
        "sources_listening": listening,
        "stopping": stopping,
        // Informative: a broker outage does not make the appliance unready (the outbox keeps
        // every event), so traffic keeps flowing to it.
        "mqtt_connected": state.metrics.mqtt_connected.get() == 1,
    });
    if listening && !stopping {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(state: web::Data<HttpState>) -> HttpResponse {
    // Gauges read at scrape time.
    let store = Arc::clone(&state.store);
    if let Ok(Ok(depth)) = web::block(move || store.outbox_depth()).await {
        state.metrics.outbox_depth.set(depth as i64);
    }
    let active = state.board.read().map(|b| b.alarms_active()).unwrap_or_default();
    state.metrics.alarms_active.set(active as i64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

async fn nodes(state: web::Data<HttpState>) -> HttpResponse {
    match state.board.read() {
        Ok(board) => HttpResponse::Ok().json(json!({ "nodes": board.nodes() })),
        Err(_) => unavailable(),
    }
}

async fn node(state: web::Data<HttpState>, id: web::Path<String>) -> HttpResponse {
    let Ok(board) = state.board.read() else { return unavailable() };
    match board.node(&id) {
        Some(detail) => HttpResponse::Ok().json(json!({
            "node": detail.node,
            "current": detail.current,
            "alarm": detail.alarm,
            "history": detail.history,
            "monitoring": board.node_monitoring(&id),
        })),
        None => HttpResponse::NotFound()
            .json(json!({ "error": format!("no judged minute of node `{id}` yet") })),
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::InternalServerError().json(json!({ "error": "the node board is unavailable" }))
}
