//! File attachments on CRM records and task reminder mails (issue #4): upload, list and download
//! round trip with the type sniffed from the bytes, the 25 MiB limit (413, nothing written),
//! refused kinds of file (422), visibility and isolation (404), deletion of row and blob, the
//! timeline, the record page; reminders mailed once at their time, and never for a finished task.

use kernel::authz::Role;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testkit::reqwest::{Method, StatusCode, header};
use testkit::{PASSWORD, TestApp};
use uuid::Uuid;

/// A `multipart/form-data` body: the `extra` fields first, then `file` with `name`, `bytes` and
/// the content type the client claims. Returns (Content-Type header, body).
fn multipart(extra: &[(&str, &str)], name: &str, claimed: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("relais-test-{}", Uuid::now_v7().simple());
    let mut body = Vec::new();
    for (field, value) in extra {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {claimed}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads through the API; returns the status and the JSON answer.
async fn upload(
    app: &TestApp,
    bearer: &str,
    path: &str,
    name: &str,
    claimed: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let (content_type, body) = multipart(&[], name, claimed, bytes);
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(bearer)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn download(app: &TestApp, bearer: &str, id: &str) -> testkit::reqwest::Response {
    app.http.get(app.url(&format!("/api/v1/files/{id}"))).bearer_auth(bearer).send().await.unwrap()
}

/// Where the blob of a file lives: `<data dir>/files/<org>/<file>`.
fn blob_path(app: &TestApp, org: kernel::OrgId, file: &str) -> std::path::PathBuf {
    app.state.config.data_dir.join("files").join(org.0.to_string()).join(file)
}

/// Every blob stored for `org`.
fn blobs(app: &TestApp, org: kernel::OrgId) -> Vec<String> {
    let dir = app.state.config.data_dir.join("files").join(org.0.to_string());
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned())).collect(),
        Err(_) => Vec::new(),
    }
}

/// A small but real-looking PDF: its magic number, then some content.
fn pdf_bytes() -> Vec<u8> {
    let mut bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n".to_vec();
    bytes.extend((0..5000u32).map(|i| (i % 251) as u8));
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

async fn new_contact(app: &TestApp, bearer: &str, name: &str) -> String {
    let (status, created) =
        app.call_api(bearer, Method::POST, "/api/v1/contacts", Some(json!({ "last_name": name }))).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// Upload, list and download return the same bytes under the type sniffed from them (never the
/// client's), as an attachment that no browser renders in the app's origin; the file is on the
/// record's timeline and page, and every step is audited.
#[tokio::test]
async fn files_round_trip_with_the_sniffed_type_on_timeline_and_page() {
    let app = TestApp::spawn().await;
    let (org, owner_id, owner) = app.sign_up_with_token("owner@files-trip.example.eu").await;
    let contact = new_contact(&app, &owner, "Fichiers").await;
    let bytes = pdf_bytes();

    let path = format!("/api/v1/contacts/{contact}/files");
    let (status, file) = upload(&app, &owner, &path, "Devis n°1.pdf", "text/html", &bytes).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(file["content_type"], "application/pdf", "sniffed from the bytes, not the claimed text/html");
    assert_eq!(file["name"], "Devis n°1.pdf");
    assert_eq!(file["size_bytes"], bytes.len() as i64);
    assert_eq!(file["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(file["object"], "contact");
    assert_eq!(file["record_id"], contact.as_str());
    assert_eq!(file["uploaded_by"], owner_id.0.to_string());
    let id = file["id"].as_str().unwrap().to_string();
    assert!(blob_path(&app, org, &id).is_file(), "the blob is stored under <org>/<file>");

    let (status, list) = app.call_api(&owner, Method::GET, &path, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["download_url"], format!("/api/v1/files/{id}"));

    let response = download(&app, &owner, &id).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"].to_str().unwrap().starts_with("sandbox"), "{headers:?}");
    let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''Devis%20n%C2%B01.pdf"), "{disposition}");
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice(), "the same bytes come back");

    // A CSV is text: accepted as such, under its sniffed type.
    let csv = "nom;ville\nÉlodie;Paris\n".as_bytes();
    let (status, text_file) = upload(&app, &owner, &path, "liste.csv", "application/octet-stream", csv).await;
    assert_eq!(status, 201, "{text_file}");
    assert_eq!(text_file["content_type"], "text/csv; charset=utf-8");
    let response = download(&app, &owner, text_file["id"].as_str().unwrap()).await;
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(response.bytes().await.unwrap().as_ref(), csv);

    let (status, timeline) =
        app.call_api(&owner, Method::GET, &format!("/api/v1/contacts/{contact}/timeline"), None).await;
    assert_eq!(status, 200);
    let files: Vec<&Value> = timeline["entries"].as_array().unwrap().iter().filter(|e| e["kind"] == "file").collect();
    assert_eq!(files.len(), 2, "{timeline}");
    let pdf = files.iter().find(|e| e["id"] == id.as_str()).expect("the PDF on the timeline");
    assert_eq!(pdf["data"]["name"], "Devis n°1.pdf");
    assert_eq!(pdf["data"]["content_type"], "application/pdf");
    assert_eq!(pdf["data"]["size_bytes"], bytes.len() as i64);
    assert_eq!(pdf["actor_id"], owner_id.0.to_string());

    assert_eq!(app.count_audit_events(org, "file.uploaded").await, 2);
    assert_eq!(app.count_audit_events(org, "file.downloaded").await, 2);

    // The record page lists the files with their download links, and the page's form uploads.
    let browser = app.browser_login("owner@files-trip.example.eu", PASSWORD).await;
    let page = browser.get(&format!("/crm/contacts/{contact}")).await.text().await.unwrap();
    assert!(page.contains("Devis n°1.pdf"), "the file is listed on the record page");
    assert!(page.contains(&format!("href=\"/crm/files/{id}\"")), "with its download link");
    assert!(page.contains(&format!("action=\"/crm/contacts/{contact}/files\"")), "and the upload form");
    let csrf = browser.csrf_token(&format!("/crm/contacts/{contact}")).await;
    let (content_type, body) =
        multipart(&[("csrf", &csrf)], "photo.png", "image/png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let response =
        post_page_upload(&app, &browser, &format!("/crm/contacts/{contact}/files"), content_type, body).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_string();
    assert_eq!(location, format!("/crm/contacts/{contact}#files"), "back to the record, the address clean");
    let toast = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().unwrap().starts_with("relais_toast=s:crm.notice.file_uploaded;"));
    assert!(toast, "with a toast saying so");
    assert_eq!(app.count_table_in_org(org, "files").await, 3);
    let response = browser.get(&format!("/crm/files/{id}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), bytes.as_slice(), "downloaded from the page too");

    // Without the CSRF token, the page's upload writes nothing.
    let (content_type, body) =
        multipart(&[("csrf", "forged")], "photo.png", "image/png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let response =
        post_page_upload(&app, &browser, &format!("/crm/contacts/{contact}/files"), content_type, body).await;
    assert_eq!(response.status(), 403);
    // A form that sends its file before (or without) the token is refused before the file is read.
    let (content_type, body) = multipart(&[], "photo.png", "image/png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let response =
        post_page_upload(&app, &browser, &format!("/crm/contacts/{contact}/files"), content_type, body).await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.count_table_in_org(org, "files").await, 3);
}

/// A file just over 25 MiB is refused with 413 problem+json naming `file`; no row, no blob.
#[tokio::test]
async fn files_over_25_mib_are_refused_with_413_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let (org, _, owner) = app.sign_up_with_token("owner@files-big.example.eu").await;
    let contact = new_contact(&app, &owner, "Gros fichier").await;
    let mut bytes = pdf_bytes();
    bytes.resize(25 * 1024 * 1024 + 1, b' ');

    let (status, problem) =
        upload(&app, &owner, &format!("/api/v1/contacts/{contact}/files"), "big.pdf", "application/pdf", &bytes).await;
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["status"], 413);
    assert_eq!(problem["errors"][0]["field"], "file", "{problem}");
    assert_eq!(problem["errors"][0]["code"], "too_large");
    assert_eq!(app.count_table_in_org(org, "files").await, 0);
    assert!(blobs(&app, org).is_empty(), "no blob was written");

    // Exactly 25 MiB is accepted.
    bytes.truncate(25 * 1024 * 1024);
    let (status, file) =
        upload(&app, &owner, &format!("/api/v1/contacts/{contact}/files"), "big.pdf", "application/pdf", &bytes).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(app.count_table_in_org(org, "files").await, 1);
}

/// An executable or a web page under a `.pdf` name, or a kind of file off the allow-list, is
/// refused (422 naming `file`) whatever the client claims; nothing is written.
#[tokio::test]
async fn disguised_and_unlisted_files_are_refused_with_422() {
    let app = TestApp::spawn().await;
    let (org, _, owner) = app.sign_up_with_token("owner@files-kind.example.eu").await;
    let (status, company) =
        app.call_api(&owner, Method::POST, "/api/v1/companies", Some(json!({ "name": "Types SARL" }))).await;
    assert_eq!(status, 201);
    let path = format!("/api/v1/companies/{}/files", company["id"].as_str().unwrap());

    let mut executable = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0\xb8\0\0\0\0\0\0\0@\0".to_vec();
    executable.resize(512, 0);
    let refused: [(&str, &str, &[u8]); 5] = [
        ("facture.pdf", "application/pdf", &executable),
        ("devis.pdf", "application/pdf", b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"),
        ("logo.png", "image/png", b"   <svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>"),
        ("script.txt", "text/plain", b"#!/bin/sh\nrm -rf /\n"),
        ("archive.gz", "application/gzip", b"\x1f\x8b\x08\0\0\0\0\0\0\x03"),
    ];
    for (name, claimed, bytes) in refused {
        let (status, problem) = upload(&app, &owner, &path, name, claimed, bytes).await;
        assert_eq!(status, 422, "{name}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "file", "{name}: {problem}");
        assert_eq!(problem["errors"][0]["code"], "file_type_refused", "{name}: {problem}");
    }
    let (status, problem) = upload(&app, &owner, &path, "vide.txt", "text/plain", b"").await;
    assert_eq!(status, 422, "an empty file: {problem}");

    // No `file` field at all.
    let response = app
        .http
        .post(app.url(&path))
        .bearer_auth(&owner)
        .header(header::CONTENT_TYPE, "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nvalue\r\n--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"][0], json!({ "field": "file", "code": "required", "message": "Choose a file." }));
    assert_eq!(app.count_table_in_org(org, "files").await, 0);
    assert!(blobs(&app, org).is_empty());
}

/// A file follows its record: a user who cannot see the record (visibility `own`) gets 404 on
/// its list, download, upload and delete, and so does another organization.
#[tokio::test]
async fn files_follow_record_visibility_and_stay_in_their_organization() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@files-vis.example.eu").await;
    app.sign_up("owner@files-vis-other.example.eu").await;
    app.add_member(org, "user@files-vis.example.eu", Role::User).await;
    let owner = app.access_token("owner@files-vis.example.eu").await;
    let user = app.access_token("user@files-vis.example.eu").await;
    let other = app.access_token("owner@files-vis-other.example.eu").await;
    let (status, deal) =
        app.call_api(&owner, Method::POST, "/api/v1/deals", Some(json!({ "name": "Affaire privée" }))).await;
    assert_eq!(status, 201, "{deal}");
    let deal = deal["id"].as_str().unwrap().to_string();
    let list_path = format!("/api/v1/deals/{deal}/files");
    let (status, file) = upload(&app, &owner, &list_path, "contrat.pdf", "application/pdf", &pdf_bytes()).await;
    assert_eq!(status, 201, "{file}");
    let id = file["id"].as_str().unwrap().to_string();

    // Visible to everyone in the organization by default.
    assert_eq!(download(&app, &user, &id).await.status(), 200);
    let (status, list) = app.call_api(&user, Method::GET, &list_path, None).await;
    assert_eq!((status, list.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));

    let (status, body) =
        app.call_api(&owner, Method::PUT, "/api/v1/crm/visibility", Some(json!({ "modes": { "deal": "own" } }))).await;
    assert_eq!(status, 200, "{body}");
    for (who, bearer) in [("a user who cannot see the deal", &user), ("another organization", &other)] {
        assert_eq!(download(&app, bearer, &id).await.status(), 404, "download by {who}");
        let (status, _) = app.call_api(bearer, Method::GET, &list_path, None).await;
        assert_eq!(status, 404, "list by {who}");
        let (status, _) = upload(&app, bearer, &list_path, "x.pdf", "application/pdf", &pdf_bytes()).await;
        assert_eq!(status, 404, "upload by {who}");
        let (status, _) = app.call_api(bearer, Method::DELETE, &format!("/api/v1/files/{id}"), None).await;
        assert_eq!(status, 404, "delete by {who}");
    }
    let (status, timeline) = app.call_api(&user, Method::GET, &format!("/api/v1/deals/{deal}/timeline"), None).await;
    assert_eq!(status, 404, "{timeline}");
    let user_browser = app.browser_login("user@files-vis.example.eu", PASSWORD).await;
    assert_eq!(user_browser.get(&format!("/crm/files/{id}")).await.status(), 404, "the page download too");
    assert_eq!(app.count_table_in_org(org, "files").await, 1, "nothing was deleted or added");
    assert_eq!(download(&app, &owner, &id).await.status(), 200, "the owner still sees it");
    assert_eq!(download(&app, &owner, &Uuid::now_v7().to_string()).await.status(), 404);
}

/// Deleting a file removes its row and its blob; deleting its record removes both too.
#[tokio::test]
async fn deleting_a_file_or_its_record_removes_row_and_blob() {
    let app = TestApp::spawn().await;
    let (org, _, owner) = app.sign_up_with_token("owner@files-del.example.eu").await;
    let (status, lead) =
        app.call_api(&owner, Method::POST, "/api/v1/leads", Some(json!({ "last_name": "Piste" }))).await;
    assert_eq!(status, 201);
    let lead = lead["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/leads/{lead}/files");
    let (_, first) = upload(&app, &owner, &path, "a.pdf", "application/pdf", &pdf_bytes()).await;
    let (_, second) = upload(&app, &owner, &path, "b.txt", "text/plain", b"Compte rendu").await;
    let first = first["id"].as_str().unwrap().to_string();
    let second = second["id"].as_str().unwrap().to_string();
    assert!(blob_path(&app, org, &first).is_file());

    let (status, _) = app.call_api(&owner, Method::DELETE, &format!("/api/v1/files/{first}"), None).await;
    assert_eq!(status, 204);
    assert!(!blob_path(&app, org, &first).exists(), "the blob is gone");
    assert_eq!(app.count_table_in_org(org, "files").await, 1, "the row is gone");
    assert_eq!(download(&app, &owner, &first).await.status(), 404);
    let (status, _) = app.call_api(&owner, Method::DELETE, &format!("/api/v1/files/{first}"), None).await;
    assert_eq!(status, 404, "twice");
    assert_eq!(app.count_audit_events(org, "file.deleted").await, 1);

    // From the record page's button.
    let (_, third) = upload(&app, &owner, &path, "c.txt", "text/plain", b"Relance").await;
    let third = third["id"].as_str().unwrap().to_string();
    let browser = app.browser_login("owner@files-del.example.eu", PASSWORD).await;
    let csrf = browser.csrf_token(&format!("/crm/leads/{lead}")).await;
    let response = browser.post_form(&format!("/crm/files/{third}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    assert!(response.headers()[header::LOCATION].to_str().unwrap().starts_with(&format!("/crm/leads/{lead}")));
    assert!(!blob_path(&app, org, &third).exists());

    // Deleting the record takes its files, rows and blobs.
    assert!(blob_path(&app, org, &second).is_file());
    let (status, _) = app.call_api(&owner, Method::DELETE, &format!("/api/v1/leads/{lead}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(app.count_table_in_org(org, "files").await, 0);
    assert!(blobs(&app, org).is_empty(), "{:?}", blobs(&app, org));
}

/// An upload writes exactly one `file.uploaded`, through the API as through the record page's
/// form: both call the same service, which writes the event.
#[tokio::test]
async fn a_file_upload_is_audited_once_through_the_api_and_once_through_the_page() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@files-audit-up.example.eu").await;
    let owner = app.access_token("owner@files-audit-up.example.eu").await;
    let contact = new_contact(&app, &owner, "Audit").await;
    let path = format!("/api/v1/contacts/{contact}/files");
    let (status, file) = upload(&app, &owner, &path, "a.pdf", "application/pdf", &pdf_bytes()).await;
    assert_eq!(status, 201, "{file}");
    assert_eq!(app.count_audit_events(org, "file.uploaded").await, 1, "one event for the API's upload");

    let browser = app.browser_login("owner@files-audit-up.example.eu", PASSWORD).await;
    let csrf = browser.csrf_token(&format!("/crm/contacts/{contact}")).await;
    let (content_type, body) = multipart(&[("csrf", &csrf)], "b.pdf", "application/pdf", &pdf_bytes());
    let response =
        post_page_upload(&app, &browser, &format!("/crm/contacts/{contact}/files"), content_type, body).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_table_in_org(org, "files").await, 2);
    assert_eq!(app.count_audit_events(org, "file.uploaded").await, 2, "and one for the page's");
}

/// A download writes exactly one `file.downloaded`, through the API as through the page's link.
#[tokio::test]
async fn a_file_download_is_audited_once_through_the_api_and_once_through_the_page() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@files-audit-get.example.eu").await;
    let owner = app.access_token("owner@files-audit-get.example.eu").await;
    let contact = new_contact(&app, &owner, "Audit").await;
    let path = format!("/api/v1/contacts/{contact}/files");
    let (_, file) = upload(&app, &owner, &path, "a.pdf", "application/pdf", &pdf_bytes()).await;
    let id = file["id"].as_str().unwrap().to_string();

    let response = download(&app, &owner, &id).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), pdf_bytes().as_slice());
    assert_eq!(app.count_audit_events(org, "file.downloaded").await, 1, "one event for the API's download");

    let browser = app.browser_login("owner@files-audit-get.example.eu", PASSWORD).await;
    let response = browser.get(&format!("/crm/files/{id}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), pdf_bytes().as_slice());
    assert_eq!(app.count_audit_events(org, "file.downloaded").await, 2, "and one for the page's");
}

/// A deletion writes exactly one `file.deleted`, through the API as through the page's button.
#[tokio::test]
async fn a_file_deletion_is_audited_once_through_the_api_and_once_through_the_page() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@files-audit-del.example.eu").await;
    let owner = app.access_token("owner@files-audit-del.example.eu").await;
    let contact = new_contact(&app, &owner, "Audit").await;
    let path = format!("/api/v1/contacts/{contact}/files");
    let (_, first) = upload(&app, &owner, &path, "a.txt", "text/plain", b"Premier").await;
    let (_, second) = upload(&app, &owner, &path, "b.txt", "text/plain", b"Second").await;

    let (status, _) =
        app.call_api(&owner, Method::DELETE, &format!("/api/v1/files/{}", first["id"].as_str().unwrap()), None).await;
    assert_eq!(status, 204);
    assert_eq!(app.count_audit_events(org, "file.deleted").await, 1, "one event for the API's deletion");

    let browser = app.browser_login("owner@files-audit-del.example.eu", PASSWORD).await;
    let csrf = browser.csrf_token(&format!("/crm/contacts/{contact}")).await;
    let response =
        browser.post_form(&format!("/crm/files/{}/delete", second["id"].as_str().unwrap()), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.count_table_in_org(org, "files").await, 0);
    assert_eq!(app.count_audit_events(org, "file.deleted").await, 2, "and one for the page's");
}

/// Merging duplicates keeps the duplicate's files on the record kept.
#[tokio::test]
async fn merging_keeps_the_files_of_the_duplicate() {
    let app = TestApp::spawn().await;
    let (org, _, owner) = app.sign_up_with_token("owner@files-merge.example.eu").await;
    let keep = new_contact(&app, &owner, "Gardé").await;
    let other = new_contact(&app, &owner, "Doublon").await;
    let (_, file) =
        upload(&app, &owner, &format!("/api/v1/contacts/{other}/files"), "a.pdf", "application/pdf", &pdf_bytes())
            .await;
    let id = file["id"].as_str().unwrap().to_string();
    let (status, merged) = app
        .call_api(&owner, Method::POST, &format!("/api/v1/contacts/{keep}/merge"), Some(json!({ "other_id": other })))
        .await;
    assert_eq!(status, 200, "{merged}");
    let (_, list) = app.call_api(&owner, Method::GET, &format!("/api/v1/contacts/{keep}/files"), None).await;
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    assert!(blob_path(&app, org, &id).is_file());
    assert_eq!(download(&app, &owner, &id).await.status(), 200);
}

/// A task's reminder is mailed to its assignee, in their language, once the clock passes
/// `remind_at`, and only once; a task finished before its reminder mails nothing; a moved reminder
/// is mailed at its new time only.
#[tokio::test]
async fn task_reminders_are_mailed_once_when_due_and_never_for_finished_tasks() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@reminders.example.eu").await;
    let assignee = app.add_member(org, "user@reminders.example.eu", Role::User).await;
    let mut tx = app.db.begin_org(org, kernel::db::Actor::System).await.unwrap();
    sqlx::query("update users set language = 'fr', first_name = 'Camille' where org_id = $1 and user_id = $2")
        .bind(org)
        .bind(assignee)
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let owner = app.access_token("owner@reminders.example.eu").await;
    let contact = new_contact(&app, &owner, "Rappels").await;
    let reminders = || {
        app.mail_to("user@reminders.example.eu")
            .into_iter()
            .filter(|m| m.subject.starts_with("Rappel"))
            .collect::<Vec<_>>()
    };
    let at = |minutes: i64| {
        (app.clock.now() + time::Duration::minutes(minutes))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let tasks = format!("/api/v1/contacts/{contact}/tasks");
    let (status, task) = app.call_api(&owner,
        Method::POST,
        &tasks,
        Some(json!({ "title": "Rappeler le client", "assignee_id": assignee, "remind_at": at(60), "due_at": at(120) })),
    )
    .await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["task_id"].as_str().unwrap().to_string();
    let (status, finished) = app
        .call_api(
            &owner,
            Method::POST,
            &tasks,
            Some(json!({ "title": "Tâche déjà faite", "assignee_id": assignee, "remind_at": at(60) })),
        )
        .await;
    assert_eq!(status, 201);
    let finished = finished["task_id"].as_str().unwrap().to_string();
    let (status, _) = app
        .call_api(&owner, Method::PATCH, &format!("/api/v1/tasks/{finished}"), Some(json!({ "status": "done" })))
        .await;
    assert_eq!(status, 204);
    let (status, moved) = app
        .call_api(
            &owner,
            Method::POST,
            &tasks,
            Some(json!({ "title": "Relance déplacée", "assignee_id": assignee, "remind_at": at(30) })),
        )
        .await;
    assert_eq!(status, 201);
    let moved = moved["task_id"].as_str().unwrap().to_string();
    let (status, _) = app
        .call_api(&owner, Method::PATCH, &format!("/api/v1/tasks/{moved}"), Some(json!({ "remind_at": at(180) })))
        .await;
    assert_eq!(status, 204);

    app.run_jobs().await;
    assert!(reminders().is_empty(), "nothing before its time");

    app.clock.advance(time::Duration::minutes(61));
    app.run_jobs().await;
    let mails = reminders();
    assert_eq!(mails.len(), 1, "one reminder: {:?}", mails.iter().map(|m| &m.subject).collect::<Vec<_>>());
    let mail = &mails[0];
    assert_eq!(mail.subject, "Rappel\u{a0}: Rappeler le client");
    assert!(mail.text.contains("Bonjour Camille"), "{}", mail.text);
    assert!(mail.text.contains("Échéance"), "{}", mail.text);
    let link = mail.link(&app.origin()).expect("a link to the record");
    assert_eq!(link, format!("{}/crm/contacts/{contact}", app.origin()));
    let mut tx = app.db.begin_org(org, kernel::db::Actor::System).await.unwrap();
    let reminded: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select reminded_at from tasks where org_id = $1 and task_id = $2::uuid")
            .bind(org)
            .bind(&task_id)
            .fetch_one(tx.conn())
            .await
            .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(reminded, Some(app.clock.now()), "the task is marked reminded");

    // Never twice: later runs, and another change of the task, send nothing more.
    let owner = app.access_token("owner@reminders.example.eu").await;
    let (status, _) = app
        .call_api(
            &owner,
            Method::PATCH,
            &format!("/api/v1/tasks/{task_id}"),
            Some(json!({ "title": "Rappeler le client (bis)" })),
        )
        .await;
    assert_eq!(status, 204);
    app.clock.advance(time::Duration::minutes(60));
    app.run_jobs().await;
    assert_eq!(reminders().len(), 1, "the first reminder is not sent again");

    // The moved reminder goes at its new time (3 h after creation), once.
    app.clock.advance(time::Duration::minutes(60));
    app.run_jobs().await;
    let mails = reminders();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].subject, "Rappel\u{a0}: Relance déplacée");
    assert!(mails[1].text.contains("sans échéance"), "{}", mails[1].text);
    app.clock.advance(time::Duration::hours(24));
    app.run_jobs().await;
    assert_eq!(reminders().len(), 2, "and nothing for the task done before its reminder");
    assert!(app.mail_to("owner@reminders.example.eu").iter().all(|m| !m.subject.starts_with("Reminder")));
}

/// Posts a multipart form from the record page, as the browser would (its session, same origin).
async fn post_page_upload(
    app: &TestApp,
    browser: &testkit::Browser,
    path: &str,
    content_type: String,
    body: Vec<u8>,
) -> testkit::reqwest::Response {
    app.http
        .post(app.url(path))
        .header(header::COOKIE, format!("relais_session={}", browser.cookie("relais_session").unwrap()))
        .header(header::ORIGIN, "null")
        .header("sec-fetch-site", "same-origin")
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A reminder time already past (by more than a minute) is refused with 422 naming `remind_at`,
/// on creation and in a PATCH, and nothing is written; one within the minute is mailed at once.
#[tokio::test]
async fn a_task_reminder_already_past_is_refused_naming_remind_at() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@past-reminders.example.eu").await;
    let owner = app.access_token("owner@past-reminders.example.eu").await;
    let contact = new_contact(&app, &owner, "Passé").await;
    let at = |minutes: i64| {
        (app.clock.now() + time::Duration::minutes(minutes))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let tasks = format!("/api/v1/contacts/{contact}/tasks");
    let (status, problem) =
        app.call_api(&owner, Method::POST, &tasks, Some(json!({ "title": "Trop tard", "remind_at": at(-60) }))).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "remind_at", "{problem}");
    assert_eq!(app.select_i64_in_org(org, "select count(*) from tasks where org_id = $1").await, 0);

    let (status, task) =
        app.call_api(&owner, Method::POST, &tasks, Some(json!({ "title": "Juste à temps", "remind_at": at(0) }))).await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["task_id"].as_str().unwrap().to_string();
    app.run_jobs().await;
    let sent =
        app.mail_to("owner@past-reminders.example.eu").into_iter().filter(|m| m.subject.contains("Juste à temps"));
    assert_eq!(sent.count(), 1, "a reminder set for now is mailed at once");

    let path = format!("/api/v1/tasks/{task_id}");
    let (status, problem) = app.call_api(&owner, Method::PATCH, &path, Some(json!({ "remind_at": at(-30) }))).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "remind_at", "{problem}");
}

/// In a PATCH, `"remind_at": null` removes a task's reminder (nothing is mailed at its old time),
/// and leaving the field out keeps it.
#[tokio::test]
async fn patching_remind_at_to_null_clears_the_reminder_and_leaving_it_out_keeps_it() {
    let app = TestApp::spawn().await;
    let (org, _) = app.sign_up("owner@clear-reminders.example.eu").await;
    let owner = app.access_token("owner@clear-reminders.example.eu").await;
    let contact = new_contact(&app, &owner, "Effacer").await;
    let at = |minutes: i64| {
        (app.clock.now() + time::Duration::minutes(minutes))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let tasks = format!("/api/v1/contacts/{contact}/tasks");
    let (status, task) =
        app.call_api(&owner, Method::POST, &tasks, Some(json!({ "title": "Sans rappel", "remind_at": at(60) }))).await;
    assert_eq!(status, 201, "{task}");
    let task_id = task["task_id"].as_str().unwrap().to_string();
    let remind_at =
        || app.select_i64_in_org(org, "select count(*) from tasks where org_id = $1 and remind_at is not null");
    let path = format!("/api/v1/tasks/{task_id}");
    let (status, _) = app.call_api(&owner, Method::PATCH, &path, Some(json!({ "title": "Renommée" }))).await;
    assert_eq!(status, 204);
    assert_eq!(remind_at().await, 1, "a PATCH without remind_at keeps the reminder");
    let (status, _) = app.call_api(&owner, Method::PATCH, &path, Some(json!({ "remind_at": null }))).await;
    assert_eq!(status, 204);
    assert_eq!(remind_at().await, 0, "\"remind_at\": null did not clear the reminder");

    app.clock.advance(time::Duration::minutes(61));
    app.run_jobs().await;
    let sent = app.mail_to("owner@clear-reminders.example.eu").into_iter().filter(|m| m.subject.contains("Renommée"));
    assert_eq!(sent.count(), 0, "a removed reminder was mailed");
}
