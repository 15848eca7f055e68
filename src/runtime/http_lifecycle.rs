//! The HTTP API of model monitoring, the sample database and the model life cycle:
//!
//! | method and path                     | what                                                  |
//! |-------------------------------------|-------------------------------------------------------|
//! | `GET /api/v1/monitor`               | verdict mix, unknown rate, nearest distance, drift: all nodes and each |
//! | `GET /api/v1/samples`               | samples (`?node=`, `?class=`, `?labelled=true`)       |
//! | `POST /api/v1/samples/{id}/label`   | `{"class", "by", "note", "reference"}`: confirm or correct a verdict; with `reference` the window is enrolled for its node at once |
//! | `GET /api/v1/models`                | registered models, active, previous and shadow        |
//! | `POST /api/v1/models/activate`      | `{"path"}`: register and judge with it from the next minute |
//! | `PUT /api/v1/models/shadow`         | `{"path"}`: judge beside the active model, verdicts stored only |
//! | `DELETE /api/v1/models/shadow`      | stop shadowing                                        |
//! | `POST /api/v1/models/promote`       | the shadow becomes the active model                   |
//! | `POST /api/v1/models/rollback`      | the previous model becomes the active one again       |
//!
//! Model changes go to the judge's actor, which applies them between two minutes.

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::http::HttpState;
use super::messages::ModelRequest;
use crate::store::{SampleFilter, SampleLabel};

/// Adds the routes.
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/api/v1/monitor", web::get().to(monitor))
        .route("/api/v1/samples", web::get().to(samples))
        .route("/api/v1/samples/{id}/label", web::post().to(label))
        .route("/api/v1/models", web::get().to(models))
        .route("/api/v1/models/activate", web::post().to(activate))
        .route("/api/v1/models/shadow", web::put().to(shadow))
        .route("/api/v1/models/shadow", web::delete().to(unshadow))
        .route("/api/v1/models/promote", web::post().to(promote))
        .route("/api/v1/models/rollback", web::post().to(rollback));
}

fn error(status: actix_web::http::StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": message.to_string() }))
}

fn internal(message: impl std::fmt::Display) -> HttpResponse {
    error(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, message)
}

async fn monitor(state: web::Data<HttpState>) -> HttpResponse {
    let Ok(board) = state.board.read() else { return internal("the node board is unavailable") };
    let (all, nodes) = board.monitoring();
    HttpResponse::Ok().json(json!({ "all": all, "nodes": nodes }))
}

#[derive(Debug, serde::Deserialize)]
struct SampleQuery {
    node: Option<String>,
    class: Option<String>,
    #[serde(default)]
    labelled: bool,
}

async fn samples(state: web::Data<HttpState>, query: web::Query<SampleQuery>) -> HttpResponse {
    let store = Arc::clone(&state.store);
    let q = query.into_inner();
    let filter = SampleFilter { node: q.node, class: q.class, labelled: q.labelled };
    match web::block(move || store.samples(&filter)).await {
        Ok(Ok(samples)) => HttpResponse::Ok().json(json!({ "samples": samples })),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

#[derive(Debug, serde::Deserialize)]
struct LabelBody {
    class: String,
    #[serde(default = "operator")]
    by: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    reference: bool,
}

fn operator() -> String {
    "operator".into()
}

async fn label(
    state: web::Data<HttpState>,
    id: web::Path<u64>,
    body: web::Json<LabelBody>,
) -> HttpResponse {
    let id = id.into_inner();
    let body = body.into_inner();
    if let Some(refused) = refuse_changes(&state) {
        return refused;
    }
    if body.class.is_empty() || body.class.contains(char::is_whitespace) {
        return error(
            actix_web::http::StatusCode::BAD_REQUEST,
            format!("`{}` is not a class name", body.class),
        );
    }
    let store = Arc::clone(&state.store);
    let sample = match web::block(move || store.sample(id)).await {
        Ok(Ok(Some(sample))) => sample,
        Ok(Ok(None)) => {
            return error(actix_web::http::StatusCode::NOT_FOUND, format!("no sample {id}"));
        }
        Ok(Err(e)) => return internal(e),
        Err(e) => return internal(e),
    };
    let mut label = SampleLabel::of(&sample, &body.class, &body.by, &body.note);
    if body.reference {
        let request = ModelRequest::EnrollSample { sample: id, class: body.class, by: body.by };
        match ask(&state, request).await {
            Ok(done) => label.reference = done["reference"].as_u64(),
            Err(response) => return response,
        }
    }
    let store = Arc::clone(&state.store);
    let stored = label.clone();
    match web::block(move || store.label_sample(id, &stored)).await {
        Ok(Ok(true)) => HttpResponse::Ok().json(json!({ "sample": id, "label": label })),
        // Retention removed it meanwhile.
        Ok(Ok(false)) => error(actix_web::http::StatusCode::NOT_FOUND, format!("no sample {id}")),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

async fn models(state: web::Data<HttpState>) -> HttpResponse {
    let store = Arc::clone(&state.store);
    let read = web::block(move || -> Result<serde_json::Value, crate::store::StoreError> {
        let (active, previous) = store.model_slots()?;
        Ok(json!({
            "active": active,
            "previous": previous,
            "shadow": store.shadow_slot()?,
            "models": store.models()?,
        }))
    });
    match read.await {
        Ok(Ok(value)) => HttpResponse::Ok().json(value),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

#[derive(Debug, serde::Deserialize)]
struct PathBody {
    path: std::path::PathBuf,
}

/// `403` unless changes are allowed.
fn refuse_changes(state: &HttpState) -> Option<HttpResponse> {
    (!state.allow_changes).then(|| {
        error(
            actix_web::http::StatusCode::FORBIDDEN,
            "changes over HTTP are off (http.allow_changes = false)",
        )
    })
}

/// Sends a model request to the judge; the error is the response to give.
async fn ask(state: &HttpState, request: ModelRequest) -> Result<serde_json::Value, HttpResponse> {
    if let Some(refused) = refuse_changes(state) {
        return Err(refused);
    }
    let Some(models) = &state.models else {
        return Err(error(
            actix_web::http::StatusCode::NOT_IMPLEMENTED,
            "this appliance cannot change models while running",
        ));
    };
    match models.send(request).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(refused)) => Err(error(actix_web::http::StatusCode::CONFLICT, refused)),
        Err(e) => Err(internal(format!("the judge is unavailable: {e}"))),
    }
}

async fn answer(state: web::Data<HttpState>, request: ModelRequest) -> HttpResponse {
    match ask(&state, request).await {
        Ok(done) => HttpResponse::Ok().json(done),
        Err(response) => response,
    }
}

async fn activate(state: web::Data<HttpState>, body: web::Json<PathBody>) -> HttpResponse {
    answer(state, ModelRequest::Activate(body.into_inner().path)).await
}

async fn shadow(state: web::Data<HttpState>, body: web::Json<PathBody>) -> HttpResponse {
    answer(state, ModelRequest::Shadow(Some(body.into_inner().path))).await
}

async fn unshadow(state: web::Data<HttpState>) -> HttpResponse {
    answer(state, ModelRequest::Shadow(None)).await
}

async fn promote(state: web::Data<HttpState>) -> HttpResponse {
    answer(state, ModelRequest::Promote).await
}

async fn rollback(state: web::Data<HttpState>) -> HttpResponse {
    answer(state, ModelRequest::Rollback).await
}
