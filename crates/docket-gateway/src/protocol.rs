//! The vendors' wire formats as far as the gateway needs them: which paths are which
//! API, where a request names its model, and the error bodies each CLI understands
//! (Anthropic `{"type":"error","error":{"type","message"}}`, OpenAI
//! `{"error":{"message","type","param","code"}}`).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::Provider;
use crate::usage::UsageFormat;

/// One of the model APIs the gateway relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    /// `POST /v1/messages`
    AnthropicMessages,
    /// `POST /v1/responses`
    OpenAiResponses,
    /// `POST /v1/chat/completions`
    OpenAiChat,
    /// `POST /openai/deployments/{deployment}/chat/completions`, `/openai/v1/chat/completions`
    AzureChat,
    /// `POST /openai/responses`, `/openai/v1/responses`
    AzureResponses,
}

impl Api {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::AnthropicMessages => "anthropic.messages",
            Api::OpenAiResponses => "openai.responses",
            Api::OpenAiChat => "openai.chat",
            Api::AzureChat => "azure.chat",
            Api::AzureResponses => "azure.responses",
        }
    }

    pub(crate) fn provider(self) -> Provider {
        match self {
            Api::AnthropicMessages => Provider::Anthropic,
            Api::OpenAiResponses | Api::OpenAiChat => Provider::OpenAi,
            Api::AzureChat | Api::AzureResponses => Provider::AzureOpenAi,
        }
    }

    pub(crate) fn usage_format(self) -> UsageFormat {
        match self {
            Api::AnthropicMessages => UsageFormat::Anthropic,
            Api::OpenAiResponses | Api::AzureResponses => UsageFormat::Responses,
            Api::OpenAiChat | Api::AzureChat => UsageFormat::Chat,
        }
    }

    pub(crate) fn dialect(self) -> Dialect {
        match self {
            Api::AnthropicMessages => Dialect::Anthropic,
            _ => Dialect::OpenAi,
        }
    }
}

/// What a request under the run's base URL is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `HEAD` anywhere under the base URL: the Claude CLI warming its connection.
    Warmup,
    Api {
        api: Api,
        /// The Azure deployment named in the path, which decides the model there.
        deployment: Option<&'a str>,
    },
    Unknown,
}

/// Classifies a request by method and path (below the run's base URL, no query).
pub(crate) fn classify<'a>(method: &Method, path: &'a str) -> Route<'a> {
    if method == Method::HEAD {
        return Route::Warmup;
    }
    if method != Method::POST {
        return Route::Unknown;
    }
    let api = |api| Route::Api {
        api,
        deployment: None,
    };
    match path {
        "/v1/messages" => api(Api::AnthropicMessages),
        "/v1/responses" => api(Api::OpenAiResponses),
        "/v1/chat/completions" => api(Api::OpenAiChat),
        "/openai/responses" | "/openai/v1/responses" => api(Api::AzureResponses),
        "/openai/v1/chat/completions" => api(Api::AzureChat),
        _ => match path
            .strip_prefix("/openai/deployments/")
            .and_then(|rest| rest.strip_suffix("/chat/completions"))
        {
            Some(deployment)
                if !deployment.is_empty()
                    && deployment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
            {
                Route::Api {
                    api: Api::AzureChat,
                    deployment: Some(deployment),
                }
            }
            _ => Route::Unknown,
        },
    }
}

/// The longest model name the gateway accepts (entries carry it).
const MAX_MODEL_LEN: usize = 256;

/// The model a request asks for: the Azure deployment in the path when there is one
/// (Azure serves the deployment's model whatever the body says), else the body's
/// `model` string.
pub(crate) fn model_of(body: &Value, deployment: Option<&str>) -> Result<String, String> {
    if let Some(deployment) = deployment {
        return Ok(deployment.to_owned());
    }
    match body.get("model") {
        Some(Value::String(model)) if !model.is_empty() && model.len() <= MAX_MODEL_LEN => {
            Ok(model.clone())
        }
        Some(Value::String(_)) => Err(format!(
            "the request's \"model\" must be 1 to {MAX_MODEL_LEN} characters"
        )),
        _ => Err("the request has no \"model\" string".into()),
    }
}

/// Which error format a client expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Anthropic,
    OpenAi,
}

impl Dialect {
    /// For a request that matched no API: Anthropic when it looks like one.
    pub(crate) fn guess(path: &str, headers: &HeaderMap) -> Dialect {
        if path.starts_with("/v1/messages") || headers.contains_key("anthropic-version") {
            Dialect::Anthropic
        } else {
            Dialect::OpenAi
        }
    }
}

/// Why the gateway answers a request itself. `code` is also the denial's `reason`
/// in the ledger.
#[derive(Debug, Clone)]
pub(crate) struct Refusal {
    pub(crate) code: &'static str,
    pub(crate) message: String,
    kind: RefusalKind,
}

#[derive(Debug, Clone, Copy)]
enum RefusalKind {
    Unauthenticated,
    NotFound,
    BadRequest,
    TooLarge,
    Forbidden,
    /// A limit or a stop: not retryable in either dialect.
    Exhausted,
    BadGateway,
    GatewayTimeout,
}

impl Refusal {
    fn new(kind: RefusalKind, code: &'static str, message: String) -> Refusal {
        Refusal {
            code,
            message: format!("docket gateway: {message}"),
            kind,
        }
    }

    pub(crate) fn unauthenticated() -> Refusal {
        Refusal::new(
            RefusalKind::Unauthenticated,
            "invalid_api_key",
            "the request does not carry this run's key (x-api-key, Authorization: Bearer or api-key)".into(),
        )
    }

    pub(crate) fn unknown_route(method: &Method, path: &str) -> Refusal {
        Refusal::new(
            RefusalKind::NotFound,
            "unknown_url",
            format!(
                "{method} {path} is not relayed (POST /v1/messages, /v1/responses, /v1/chat/completions and Azure OpenAI deployment paths are)"
            ),
        )
    }

    pub(crate) fn bad_request(message: String) -> Refusal {
        Refusal::new(RefusalKind::BadRequest, "invalid_request", message)
    }

    pub(crate) fn too_large(limit: usize) -> Refusal {
        Refusal::new(
            RefusalKind::TooLarge,
            "request_too_large",
            format!("the request body could not be read whole (the limit is {limit} bytes)"),
        )
    }

    pub(crate) fn model_not_allowed(model: &str) -> Refusal {
        Refusal::new(
            RefusalKind::Forbidden,
            "model_not_allowed",
            format!("model {model:?} is not allowed for this run (gateway allowed_models)"),
        )
    }

    pub(crate) fn secret_detected(rules: &str) -> Refusal {
        Refusal::new(
            RefusalKind::BadRequest,
            "secret_detected",
            format!(
                "the request contains a secret ({rules}) and the run's redaction mode is block"
            ),
        )
    }

    pub(crate) fn stopped(reason: &str) -> Refusal {
        Refusal::new(
            RefusalKind::Exhausted,
            "insufficient_quota",
            format!("the run is stopped: {reason}"),
        )
    }

    pub(crate) fn no_upstream(provider: Provider) -> Refusal {
        Refusal::new(
            RefusalKind::BadGateway,
            "no_upstream",
            format!(
                "no upstream is configured for provider {}",
                provider.as_str()
            ),
        )
    }

    pub(crate) fn unreachable(upstream: &str, reason: &str) -> Refusal {
        Refusal::new(
            RefusalKind::BadGateway,
            "upstream_unreachable",
            format!("upstream {upstream} is unreachable: {reason}"),
        )
    }

    pub(crate) fn upstream_timeout(upstream: &str, timeout: std::time::Duration) -> Refusal {
        Refusal::new(
            RefusalKind::GatewayTimeout,
            "upstream_timeout",
            format!(
                "upstream {upstream} did not answer within {:.1} s",
                timeout.as_secs_f64()
            ),
        )
    }

    pub(crate) fn replay(code: &'static str, message: String) -> Refusal {
        Refusal::new(RefusalKind::BadRequest, code, message)
    }

    /// The status this refusal gets in `dialect`.
    pub(crate) fn status(&self, dialect: Dialect) -> StatusCode {
        match (self.kind, dialect) {
            (RefusalKind::Unauthenticated, _) => StatusCode::UNAUTHORIZED,
            (RefusalKind::NotFound, _) => StatusCode::NOT_FOUND,
            (RefusalKind::BadRequest, _) => StatusCode::BAD_REQUEST,
            (RefusalKind::TooLarge, _) => StatusCode::PAYLOAD_TOO_LARGE,
            (RefusalKind::Forbidden, _) => StatusCode::FORBIDDEN,
            // Anthropic reports an exhausted balance as a 400, which the Claude CLI
            // does not retry; OpenAI as a 429 `insufficient_quota`.
            (RefusalKind::Exhausted, Dialect::Anthropic) => StatusCode::BAD_REQUEST,
            (RefusalKind::Exhausted, Dialect::OpenAi) => StatusCode::TOO_MANY_REQUESTS,
            (RefusalKind::BadGateway, _) => StatusCode::BAD_GATEWAY,
            (RefusalKind::GatewayTimeout, _) => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The error body in `dialect`'s shape.
    pub(crate) fn body(&self, dialect: Dialect) -> Value {
        match dialect {
            Dialect::Anthropic => {
                let kind = match self.kind {
                    RefusalKind::Unauthenticated => "authentication_error",
                    RefusalKind::NotFound => "not_found_error",
                    RefusalKind::BadRequest | RefusalKind::Exhausted => "invalid_request_error",
                    RefusalKind::TooLarge => "request_too_large",
                    RefusalKind::Forbidden => "permission_error",
                    RefusalKind::BadGateway | RefusalKind::GatewayTimeout => "api_error",
                };
                json!({"type": "error", "error": {"type": kind, "message": self.message}})
            }
            Dialect::OpenAi => {
                let kind = match self.kind {
                    RefusalKind::Exhausted => "insufficient_quota",
                    RefusalKind::BadGateway | RefusalKind::GatewayTimeout => "server_error",
                    _ => "invalid_request_error",
                };
                json!({"error": {"message": self.message, "type": kind, "param": null, "code": self.code}})
            }
        }
    }

    pub(crate) fn response(&self, dialect: Dialect) -> Response {
        let body = serde_json::to_vec(&self.body(dialect)).unwrap_or_default();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = self.status(dialect);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let post = Method::POST;
        let cases = [
            ("/v1/messages", Some((Api::AnthropicMessages, None))),
            ("/v1/responses", Some((Api::OpenAiResponses, None))),
            ("/v1/chat/completions", Some((Api::OpenAiChat, None))),
            (
                "/openai/deployments/gpt-5.4_prod/chat/completions",
                Some((Api::AzureChat, Some("gpt-5.4_prod"))),
            ),
            ("/openai/responses", Some((Api::AzureResponses, None))),
            ("/openai/v1/chat/completions", Some((Api::AzureChat, None))),
            ("/openai/deployments//chat/completions", None),
            ("/openai/deployments/a/b/chat/completions", None),
            ("/v1/messages/count_tokens", None),
            ("/v1/models", None),
            ("", None),
        ];
        for (path, expected) in cases {
            let route = classify(&post, path);
            let expected = match expected {
                Some((api, deployment)) => Route::Api { api, deployment },
                None => Route::Unknown,
            };
            assert_eq!(route, expected, "{path}");
        }
        assert_eq!(classify(&Method::HEAD, ""), Route::Warmup);
        assert_eq!(classify(&Method::GET, "/v1/messages"), Route::Unknown);
    }

    #[test]
    fn error_shapes() {
        let refusal = Refusal::model_not_allowed("gpt-9");
        assert_eq!(refusal.status(Dialect::Anthropic), StatusCode::FORBIDDEN);
        let body = refusal.body(Dialect::Anthropic);
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "permission_error");
        let body = refusal.body(Dialect::OpenAi);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "model_not_allowed");
        assert!(body["error"]["param"].is_null());
        let stop = Refusal::stopped("limit");
        assert_eq!(stop.status(Dialect::Anthropic), StatusCode::BAD_REQUEST);
        assert_eq!(stop.status(Dialect::OpenAi), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            stop.body(Dialect::OpenAi)["error"]["type"],
            "insufficient_quota"
        );
    }

    #[test]
    fn models() {
        let body = json!({"model": "claude-x"});
        assert_eq!(model_of(&body, None).unwrap(), "claude-x");
        assert_eq!(model_of(&body, Some("dep")).unwrap(), "dep");
        assert!(model_of(&json!({}), None).is_err());
        assert!(model_of(&json!({"model": ""}), None).is_err());
        assert!(model_of(&json!({"model": 3}), None).is_err());
    }
}
