//! Entries carrying planted credentials, one builder per [`PlantKind`] (some
//! builders plant several kinds at once, e.g. a token response's access, refresh
//! and id tokens).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Ctx;
use super::benign::{
    API, APP, Body, Dest, IDP, api_json, finish, html_page, minified_js, request, response,
};
use super::model::{Cookie, Entry, Nv, PostData, WsMessage, cookie, nv};
use crate::plant::{Plant, PlantKind, percent_encode};
use crate::secrets as s;

/// Builds an entry carrying `kind` (and possibly related kinds).
pub(super) fn entry(ctx: &mut Ctx, kind: PlantKind, index: u64) -> (Entry, Vec<Plant>) {
    let mut plants = Vec::new();
    let mut plant = |k: PlantKind, v: &str| plants.push(Plant::new(k, v.to_owned(), index));
    let e = match kind {
        PlantKind::CookiePhpsessid
        | PlantKind::CookieJsessionid
        | PlantKind::CookieAspnetSession
        | PlantKind::CookieIdpSid => {
            let (name, value) = match kind {
                PlantKind::CookiePhpsessid => ("PHPSESSID", s::phpsessid(&mut ctx.g)),
                PlantKind::CookieJsessionid => ("JSESSIONID", s::jsessionid(&mut ctx.g)),
                PlantKind::CookieAspnetSession => {
                    ("ASP.NET_SessionId", s::aspnet_session(&mut ctx.g))
                }
                _ => ("sid", s::idp_sid(&mut ctx.g)),
            };
            plant(kind, &value);
            authed_get(ctx, Vec::new(), vec![cookie(name, &value)])
        }
        PlantKind::CookieConnectSid
        | PlantKind::CookieLaravelSession
        | PlantKind::CookieHostSession => {
            let (name, value) = match kind {
                PlantKind::CookieConnectSid => ("connect.sid", s::connect_sid(&mut ctx.g)),
                PlantKind::CookieLaravelSession => {
                    ("laravel_session", s::laravel_session(&mut ctx.g))
                }
                _ => ("__Host-session", s::host_session(&mut ctx.g)),
            };
            plant(kind, &value);
            set_cookie(ctx, name, &value)
        }
        PlantKind::BearerOpaque
        | PlantKind::BearerJwt
        | PlantKind::BasicAuth
        | PlantKind::SswsToken => {
            let (scheme, value) = match kind {
                PlantKind::BearerOpaque => ("Bearer", s::opaque_token(&mut ctx.g)),
                PlantKind::BearerJwt => (
                    "Bearer",
                    s::jwt(
                        &mut ctx.g,
                        &format!("https://{IDP}/oauth2/default"),
                        "api://default",
                    ),
                ),
                PlantKind::BasicAuth => ("Basic", s::basic(&mut ctx.g)),
                _ => ("SSWS", s::ssws(&mut ctx.g)),
            };
            plant(kind, &value);
            authed_get(
                ctx,
                vec![nv("authorization", format!("{scheme} {value}"))],
                Vec::new(),
            )
        }
        PlantKind::OauthCodeQuery | PlantKind::OauthStateQuery => {
            let code = s::oauth_code(&mut ctx.g);
            let state = s::oauth_state(&mut ctx.g);
            plant(PlantKind::OauthCodeQuery, &code);
            plant(PlantKind::OauthStateQuery, &state);
            callback(ctx, &code, &state)
        }
        PlantKind::OauthCodeReferer => {
            let code = s::oauth_code(&mut ctx.g);
            plant(kind, &code);
            let referer = format!(
                "https://{APP}/callback?code={code}&state={}",
                ctx.g.b64url_chars(16)
            );
            let url = format!("https://{API}/v2/session/bootstrap");
            let mut req = request(ctx, "GET", &url, Dest::Fetch, Vec::new(), Vec::new());
            for h in &mut req.headers {
                if h.name == "referer" {
                    h.value.clone_from(&referer);
                }
            }
            let body = api_json(ctx);
            let resp = response(
                ctx,
                200,
                "application/json",
                Body::Text(body),
                Vec::new(),
                Vec::new(),
            );
            finish(ctx, req, resp, "fetch", Vec::new())
        }
        PlantKind::AccessTokenFragment | PlantKind::IdTokenFragment => {
            let access = s::opaque_token(&mut ctx.g);
            let id = s::jwt(&mut ctx.g, &format!("https://{IDP}"), "0oa1client");
            plant(PlantKind::AccessTokenFragment, &access);
            plant(PlantKind::IdTokenFragment, &id);
            let location = format!(
                "https://{APP}/implicit/callback#access_token={access}&token_type=Bearer&expires_in=3600&scope=openid&id_token={id}&state={}",
                ctx.g.b64url_chars(20)
            );
            redirect_from_idp(ctx, &location)
        }
        PlantKind::AccessTokenQuery => {
            let token = s::opaque_token(&mut ctx.g);
            plant(kind, &token);
            let url = format!(
                "https://{API}/v1/export?format=csv&access_token={token}&ts={}",
                ctx.g.now_secs()
            );
            let req = request(ctx, "GET", &url, Dest::Fetch, Vec::new(), Vec::new());
            let body = api_json(ctx);
            let resp = response(
                ctx,
                200,
                "application/json",
                Body::Text(body),
                Vec::new(),
                Vec::new(),
            );
            finish(ctx, req, resp, "fetch", Vec::new())
        }
        PlantKind::AccessTokenJson | PlantKind::RefreshTokenJson | PlantKind::IdTokenJson => {
            let access = s::jwt(
                &mut ctx.g,
                &format!("https://{IDP}/oauth2/default"),
                "api://default",
            );
            let refresh = s::refresh_token(&mut ctx.g);
            let id = s::jwt(&mut ctx.g, &format!("https://{IDP}"), "0oa1client");
            plant(PlantKind::AccessTokenJson, &access);
            plant(PlantKind::RefreshTokenJson, &refresh);
            plant(PlantKind::IdTokenJson, &id);
            let body = format!(
                r#"{{"token_type":"Bearer","expires_in":3600,"access_token":"{access}","scope":"openid profile offline_access","refresh_token":"{refresh}","id_token":"{id}"}}"#
            );
            let form = format!(
                "grant_type=client_credentials&client_id=0oa1client&scope={}",
                percent_encode("openid profile", false)
            );
            token_endpoint(ctx, &form, body)
        }
        PlantKind::OauthCodeForm | PlantKind::PkceVerifier => {
            let code = s::oauth_code(&mut ctx.g);
            let verifier = s::pkce_verifier(&mut ctx.g);
            plant(PlantKind::OauthCodeForm, &code);
            plant(PlantKind::PkceVerifier, &verifier);
            let form = format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}&client_id=0oa1client&code_verifier={verifier}",
                percent_encode(&format!("https://{APP}/callback"), false)
            );
            let body = format!(
                r#"{{"token_type":"Bearer","expires_in":3600,"scope":"openid","request_id":"{}"}}"#,
                ctx.g.uuid()
            );
            token_endpoint(ctx, &form, body)
        }
        PlantKind::RefreshTokenForm => {
            let refresh = s::refresh_token(&mut ctx.g);
            plant(kind, &refresh);
            let form =
                format!("grant_type=refresh_token&refresh_token={refresh}&client_id=0oa1client");
            let body = format!(
                r#"{{"error":"invalid_grant","error_description":"The refresh token is invalid or expired.","request_id":"{}"}}"#,
                ctx.g.uuid()
            );
            token_endpoint(ctx, &form, body)
        }
        PlantKind::SamlResponseForm => {
            let saml = s::saml_response(&mut ctx.g);
            plant(kind, &saml);
            let relay = ctx.g.uuid();
            let text = format!(
                "SAMLResponse={}&RelayState={relay}",
                percent_encode(&saml, false)
            );
            form_post(
                ctx,
                &format!("https://{APP}/saml/acs"),
                text,
                vec![nv("SAMLResponse", saml.clone()), nv("RelayState", relay)],
                302,
            )
        }
        PlantKind::SamlResponseHtml => {
            let saml = s::saml_response(&mut ctx.g);
            plant(kind, &saml);
            let form = format!(
                "<form method=\"post\" action=\"https://{APP}/saml/acs\"><input type=\"hidden\" name=\"SAMLResponse\" value=\"{saml}\"/><input type=\"hidden\" name=\"RelayState\" value=\"{}\"/><noscript><button type=\"submit\">Continue</button></noscript></form><script>document.forms[0].submit()</script>",
                ctx.g.uuid()
            );
            html_doc(ctx, &format!("https://{IDP}/app/example/sso/saml"), &form)
        }
        PlantKind::AwsAccessKeyId | PlantKind::AwsSecretKey => {
            let id = s::aws_key_id(&mut ctx.g);
            let secret = s::aws_secret(&mut ctx.g);
            plant(PlantKind::AwsAccessKeyId, &id);
            plant(PlantKind::AwsSecretKey, &secret);
            let body = format!(
                r#"{{"Credentials":{{"AccessKeyId":"{id}","SecretAccessKey":"{secret}","Expiration":"{}"}},"region":"eu-west-1","bucket":"uploads-{}"}}"#,
                ctx.g.now_iso(),
                ctx.g.hex(8)
            );
            json_get(ctx, &format!("https://{API}/v2/storage/credentials"), body)
        }
        PlantKind::AwsPresignedSignature => {
            let sig = ctx.g.hex(64);
            plant(kind, &sig);
            let key_id = s::aws_key_id(&mut ctx.g);
            let url = format!(
                "https://uploads-{}.s3.eu-west-1.amazonaws.com/exports/{}.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={key_id}%2F20240312%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20240312T091403Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={sig}",
                ctx.g.hex(8),
                ctx.g.uuid()
            );
            let req = request(ctx, "GET", &url, Dest::Fetch, Vec::new(), Vec::new());
            let csv = format!("id,name\n{},{}\n", ctx.g.uuid(), ctx.g.word());
            let resp = response(
                ctx,
                200,
                "text/csv",
                Body::Text(csv),
                Vec::new(),
                Vec::new(),
            );
            finish(ctx, req, resp, "fetch", Vec::new())
        }
        PlantKind::AwsSessionToken => {
            let token = s::aws_session_token(&mut ctx.g);
            plant(kind, &token);
            authed_get(
                ctx,
                vec![nv("x-amz-security-token", token.clone())],
                Vec::new(),
            )
        }
        PlantKind::GithubToken
        | PlantKind::GitlabToken
        | PlantKind::SlackToken
        | PlantKind::PrivateKeyPem
        | PlantKind::UrlUserinfoPassword => {
            let (key, value) = match kind {
                PlantKind::GithubToken => ("github_token", s::github_token(&mut ctx.g)),
                PlantKind::GitlabToken => ("gitlab_token", s::gitlab_token(&mut ctx.g)),
                PlantKind::SlackToken => ("slack_bot_token", s::slack_token(&mut ctx.g)),
                PlantKind::PrivateKeyPem => ("signing_key", s::private_key_pem(&mut ctx.g)),
                _ => ("remote", s::api_key(&mut ctx.g)),
            };
            plant(kind, &value);
            let shown = if kind == PlantKind::UrlUserinfoPassword {
                format!("https://deploy:{value}@git.example.com/ops/infra.git")
            } else {
                value
            };
            let mut body = serde_json::Map::new();
            body.insert(
                "integration".to_owned(),
                serde_json::Value::String(ctx.g.word().to_owned()),
            );
            body.insert("id".to_owned(), serde_json::Value::String(ctx.g.uuid()));
            body.insert(key.to_owned(), serde_json::Value::String(shown));
            body.insert(
                "updated_at".to_owned(),
                serde_json::Value::String(ctx.g.now_iso()),
            );
            let url = format!("https://{API}/v2/integrations/{}", ctx.g.uuid());
            json_get(ctx, &url, serde_json::Value::Object(body).to_string())
        }
        PlantKind::StripeKey => {
            let key = s::stripe_key(&mut ctx.g);
            plant(kind, &key);
            let url = format!("https://{APP}/static/js/config.{}.js", ctx.g.hex(8));
            let req = request(ctx, "GET", &url, Dest::Script, Vec::new(), Vec::new());
            let js = minified_js(ctx, 3_000);
            let js = format!("{js}window.__CONFIG__={{stripeKey:\"{key}\",env:\"production\"}};\n");
            let resp = response(
                ctx,
                200,
                "application/javascript",
                Body::Text(js),
                Vec::new(),
                Vec::new(),
            );
            finish(ctx, req, resp, "script", Vec::new())
        }
        PlantKind::GoogleApiKey => {
            let key = s::google_api_key(&mut ctx.g);
            plant(kind, &key);
            let url = format!(
                "https://maps.googleapis.com/maps/api/geocode/json?address={}&key={key}",
                ctx.g.word()
            );
            let req = request(ctx, "GET", &url, Dest::Fetch, Vec::new(), Vec::new());
            let resp = response(
                ctx,
                200,
                "application/json",
                Body::Text("{\"results\":[],\"status\":\"ZERO_RESULTS\"}".to_owned()),
                Vec::new(),
                Vec::new(),
            );
            finish(ctx, req, resp, "fetch", Vec::new())
        }
        PlantKind::ApiKeyHeader => {
            let key = s::api_key(&mut ctx.g);
            plant(kind, &key);
            authed_get(ctx, vec![nv("x-api-key", key.clone())], Vec::new())
        }
        PlantKind::PasswordForm => {
            let pw = s::password(&mut ctx.g);
            plant(kind, &pw);
            let user = format!("{}@example.org", ctx.g.word());
            let text = format!(
                "username={}&password={}&remember=1",
                percent_encode(&user, false),
                percent_encode(&pw, false)
            );
            form_post(
                ctx,
                &format!("https://{APP}/login"),
                text,
                vec![
                    nv("username", user),
                    nv("password", pw.clone()),
                    nv("remember", "1"),
                ],
                302,
            )
        }
        PlantKind::PasswordJson => {
            let pw = s::password(&mut ctx.g);
            plant(kind, &pw);
            let body = format!(
                r#"{{"username":"{}@example.org","password":"{pw}","options":{{"warnBeforePasswordExpired":true}}}}"#,
                ctx.g.word()
            );
            json_post(
                ctx,
                &format!("https://{IDP}/api/v1/authn"),
                body,
                Vec::new(),
            )
        }
        PlantKind::CsrfHeader => {
            let token = s::csrf(&mut ctx.g);
            plant(kind, &token);
            let body = format!(r#"{{"item_id":"{}","quantity":1}}"#, ctx.g.uuid());
            json_post(
                ctx,
                &format!("https://{API}/v2/cart/items"),
                body,
                vec![nv("x-csrf-token", token.clone())],
            )
        }
        PlantKind::CsrfHiddenInput => {
            let token = s::csrf(&mut ctx.g);
            plant(kind, &token);
            let form = format!(
                "<form method=\"post\" action=\"/settings\"><input type=\"hidden\" name=\"csrf_token\" value=\"{token}\"><input name=\"display_name\"></form>"
            );
            html_doc(ctx, &format!("https://{APP}/settings"), &form)
        }
        PlantKind::WebsocketToken => {
            let token = s::jwt(
                &mut ctx.g,
                &format!("https://{IDP}/oauth2/default"),
                "realtime",
            );
            plant(kind, &token);
            websocket(ctx, &token)
        }
        PlantKind::Base64BodyToken => {
            let token = s::opaque_token(&mut ctx.g);
            plant(kind, &token);
            let json = format!(
                r#"{{"session":{{"id":"{}","access_token":"{token}","expires_in":900}}}}"#,
                ctx.g.uuid()
            );
            let url = format!("https://{API}/v2/session");
            let req = request(ctx, "GET", &url, Dest::Fetch, Vec::new(), Vec::new());
            let resp = response(
                ctx,
                200,
                "application/json",
                Body::Base64(json.into_bytes()),
                Vec::new(),
                Vec::new(),
            );
            finish(ctx, req, resp, "fetch", Vec::new())
        }
        PlantKind::NestedRedirectCode => {
            let code = s::oauth_code(&mut ctx.g);
            plant(kind, &code);
            let inner = format!(
                "https://{APP}/callback?code={code}&state={}",
                ctx.g.b64url_chars(16)
            );
            let url = format!(
                "https://{APP}/login?next={}&lang=en",
                percent_encode(&inner, false)
            );
            html_doc(ctx, &url, "<p>Signing you in...</p>")
        }
        PlantKind::TextLine => authed_get(ctx, Vec::new(), Vec::new()),
    };
    (e, plants)
}

/// A JSON GET to the API with extra headers and request cookies.
fn authed_get(ctx: &mut Ctx, extra: Vec<Nv>, cookies: Vec<Cookie>) -> Entry {
    let url = format!(
        "https://{APP}/api/{}?page={}",
        ctx.g.word(),
        ctx.g.range(1, 9)
    );
    let req = request(ctx, "GET", &url, Dest::Fetch, extra, cookies);
    let body = api_json(ctx);
    let resp = response(
        ctx,
        200,
        "application/json",
        Body::Text(body),
        Vec::new(),
        Vec::new(),
    );
    finish(ctx, req, resp, "fetch", Vec::new())
}

/// A login response that sets a session cookie (header and `cookies[]`).
fn set_cookie(ctx: &mut Ctx, name: &str, value: &str) -> Entry {
    let url = format!("https://{APP}/session");
    let req = request(ctx, "GET", &url, Dest::Document, Vec::new(), Vec::new());
    let expires = ctx.g.now_http_date();
    let header =
        format!("{name}={value}; Path=/; Expires={expires}; HttpOnly; Secure; SameSite=Lax");
    let mut c = cookie(name, value);
    c.path = Some("/".to_owned());
    c.http_only = Some(true);
    c.secure = Some(true);
    c.same_site = Some("Lax".to_owned());
    c.expires = Some(ctx.g.now_iso());
    let location = format!("https://{APP}/dashboard");
    let mut resp = response(
        ctx,
        302,
        "text/html",
        Body::Empty,
        vec![nv("set-cookie", header), nv("location", location.clone())],
        vec![c],
    );
    resp.redirect_url = location;
    finish(ctx, req, resp, "document", Vec::new())
}

/// The browser's request to the OAuth callback, carrying `code` and `state`.
fn callback(ctx: &mut Ctx, code: &str, state: &str) -> Entry {
    let url = format!("https://{APP}/callback?code={code}&state={state}");
    ctx.page_url.clone_from(&url);
    let req = request(ctx, "GET", &url, Dest::Document, Vec::new(), Vec::new());
    let location = format!("https://{APP}/dashboard");
    let mut resp = response(
        ctx,
        302,
        "text/html",
        Body::Empty,
        vec![nv("location", location.clone())],
        Vec::new(),
    );
    resp.redirect_url = location;
    finish(ctx, req, resp, "document", Vec::new())
}

/// An IdP answer redirecting the browser to `location`.
fn redirect_from_idp(ctx: &mut Ctx, location: &str) -> Entry {
    let url = format!(
        "https://{IDP}/oauth2/v1/authorize?client_id=0oa1client&response_type=token%20id_token&scope=openid&redirect_uri={}&nonce={}",
        percent_encode(&format!("https://{APP}/implicit/callback"), false),
        ctx.g.b64url_chars(16)
    );
    let req = request(ctx, "GET", &url, Dest::Document, Vec::new(), Vec::new());
    let mut resp = response(
        ctx,
        302,
        "text/html",
        Body::Empty,
        vec![nv("location", location.to_owned())],
        Vec::new(),
    );
    resp.redirect_url = location.to_owned();
    finish(ctx, req, resp, "document", Vec::new())
}

/// A form post to the token endpoint answered with `body`.
fn token_endpoint(ctx: &mut Ctx, form: &str, body: String) -> Entry {
    let url = format!("https://{IDP}/oauth2/default/v1/token");
    let params = form
        .split('&')
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            nv(n, v)
        })
        .collect();
    let mut req = request(
        ctx,
        "POST",
        &url,
        Dest::Fetch,
        vec![nv("content-type", "application/x-www-form-urlencoded")],
        Vec::new(),
    );
    req.body_size = i64::try_from(form.len()).unwrap_or(0);
    req.post_data = Some(PostData {
        mime_type: "application/x-www-form-urlencoded".to_owned(),
        text: form.to_owned(),
        params,
    });
    let resp = response(
        ctx,
        200,
        "application/json",
        Body::Text(body),
        vec![nv("pragma", "no-cache")],
        Vec::new(),
    );
    finish(ctx, req, resp, "fetch", Vec::new())
}

/// An urlencoded form post (`text` already encoded, `params` decoded).
fn form_post(ctx: &mut Ctx, url: &str, text: String, params: Vec<Nv>, status: u16) -> Entry {
    let mut req = request(
        ctx,
        "POST",
        url,
        Dest::Document,
        vec![
            nv("content-type", "application/x-www-form-urlencoded"),
            nv("origin", format!("https://{APP}")),
        ],
        Vec::new(),
    );
    req.body_size = i64::try_from(text.len()).unwrap_or(0);
    req.post_data = Some(PostData {
        mime_type: "application/x-www-form-urlencoded".to_owned(),
        text,
        params,
    });
    let location = format!("https://{APP}/dashboard");
    let mut resp = response(
        ctx,
        status,
        "text/html",
        Body::Empty,
        vec![nv("location", location.clone())],
        Vec::new(),
    );
    resp.redirect_url = location;
    finish(ctx, req, resp, "document", Vec::new())
}

/// A JSON post.
fn json_post(ctx: &mut Ctx, url: &str, body: String, extra: Vec<Nv>) -> Entry {
    let mut headers = vec![nv("content-type", "application/json")];
    headers.extend(extra);
    let mut req = request(ctx, "POST", url, Dest::Fetch, headers, Vec::new());
    req.body_size = i64::try_from(body.len()).unwrap_or(0);
    req.post_data = Some(PostData {
        mime_type: "application/json".to_owned(),
        text: body,
        params: Vec::new(),
    });
    let out = format!(
        r#"{{"status":"SUCCESS","expiresAt":"{}","requestId":"{}"}}"#,
        ctx.g.now_iso(),
        ctx.g.uuid()
    );
    let resp = response(
        ctx,
        200,
        "application/json",
        Body::Text(out),
        Vec::new(),
        Vec::new(),
    );
    finish(ctx, req, resp, "fetch", Vec::new())
}

/// A JSON GET answered with `body`.
fn json_get(ctx: &mut Ctx, url: &str, body: String) -> Entry {
    let req = request(ctx, "GET", url, Dest::Fetch, Vec::new(), Vec::new());
    let resp = response(
        ctx,
        200,
        "application/json",
        Body::Text(body),
        Vec::new(),
        Vec::new(),
    );
    finish(ctx, req, resp, "fetch", Vec::new())
}

/// A document whose HTML body contains `extra`.
fn html_doc(ctx: &mut Ctx, url: &str, extra: &str) -> Entry {
    ctx.page_url = url.to_owned();
    let req = request(ctx, "GET", url, Dest::Document, Vec::new(), Vec::new());
    let html = html_page(ctx, "Example", extra);
    let resp = response(
        ctx,
        200,
        "text/html; charset=utf-8",
        Body::Text(html),
        Vec::new(),
        Vec::new(),
    );
    finish(ctx, req, resp, "document", Vec::new())
}

/// A websocket whose first frame authenticates with `token`.
fn websocket(ctx: &mut Ctx, token: &str) -> Entry {
    let url = format!("wss://{APP}/realtime?v=2");
    let key = ctx.g.b64_of_random(16);
    let req = request(
        ctx,
        "GET",
        &url,
        Dest::Websocket,
        vec![nv("sec-websocket-key", key)],
        Vec::new(),
    );
    let accept = STANDARD.encode(ctx.g.bytes(20));
    let mut resp = response(
        ctx,
        101,
        "x-unknown",
        Body::Empty,
        vec![nv("sec-websocket-accept", accept)],
        Vec::new(),
    );
    resp.status_text = "Switching Protocols".to_owned();
    let t0 = ctx.g.now_secs() as f64;
    let ws = vec![
        WsMessage {
            kind: "send".to_owned(),
            time: t0,
            opcode: 1,
            data: format!(r#"{{"type":"auth","token":"{token}"}}"#),
        },
        WsMessage {
            kind: "receive".to_owned(),
            time: t0 + 0.2,
            opcode: 1,
            data: format!(r#"{{"type":"ready","session":"{}"}}"#, ctx.g.uuid()),
        },
    ];
    finish(ctx, req, resp, "websocket", ws)
}
