//! Calling the JSON API with a bearer token, as an API client does.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

impl TestApp {
    /// Sends a JSON API request with a bearer token and an optional JSON body; returns the status
    /// and the body (`Null` when it is empty or not JSON).
    pub async fn call_api(&self, bearer: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(bearer);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GET path` with a bearer token: the whole response.
    pub async fn get_with_bearer(&self, bearer: &str, path: &str) -> Response {
        self.http.get(self.url(path)).bearer_auth(bearer).send().await.expect("request")
    }

    /// `GET path` with a bearer token: the status and the body as text (CSV exports and the like).
    pub async fn get_text_with_bearer(&self, bearer: &str, path: &str) -> (StatusCode, String) {
        let response = self.get_with_bearer(bearer, path).await;
        (response.status(), response.text().await.expect("body"))
    }

    /// `GET /api/v1/me`: whom a credential authenticates, if anyone.
    pub async fn me(&self, bearer: &str) -> Response {
        self.get_with_bearer(bearer, "/api/v1/me").await
    }

    /// `POST /api/v1/auth/refresh` with a refresh token.
    pub async fn refresh_tokens(&self, refresh_token: &str) -> Response {
        self.post_json("/api/v1/auth/refresh", &json!({ "refresh_token": refresh_token })).await
    }

    /// Uploads `bytes` as a CSV file to import as `object` records; returns the status and the
    /// import (`Null` if the answer is not JSON).
    pub async fn upload_import(&self, bearer: &str, object: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url(&format!("/api/v1/imports?object={object}&filename=clients.csv")))
            .bearer_auth(bearer)
            .header("content-type", "text/csv")
            .body(bytes)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Imports a CSV file end to end: uploads it, runs it in batches of `batch_rows`, drains the
    /// job queue, and returns the finished import.
    pub async fn import_csv(&self, bearer: &str, object: &str, bytes: Vec<u8>, batch_rows: u32) -> Value {
        let (status, created) = self.upload_import(bearer, object, bytes).await;
        assert_eq!(status, 201, "{created}");
        let id = created["import_id"].as_str().expect("an import id").to_string();
        let path = format!("/api/v1/imports/{id}/run?batch_rows={batch_rows}");
        let (status, started) = self.call_api(bearer, Method::POST, &path, None).await;
        assert_eq!(status, 202, "{started}");
        self.run_jobs().await;
        let (status, done) = self.call_api(bearer, Method::GET, &format!("/api/v1/imports/{id}"), None).await;
        assert_eq!(status, 200);
        done
    }
}
