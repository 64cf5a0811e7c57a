//! The auth methods other than AppRole, each against a real OpenBao server: `token_file`,
//! `jwt` (with a key pair made here and a real JWT auth mount), `kubernetes` (the request
//! shape, seen by the server's audit device, since no Kubernetes API answers here), `cert`
//! (a client certificate issued by the server's own PKI engine, over its TLS listener), the
//! method's `namespace`, and the `vault {}` TLS settings `ca_path`, `client_cert`,
//! `client_key` and `tls_server_name`.

use std::time::Duration;

use serde_json::json;
use vaultward_test_support::{DevServer, JwtSigner, unix_now};

use crate::support::{Case, text, wait_until};

/// A sink and a template reading the case's KV secret; `METHOD` is replaced by a method block.
const JOB: &str = r#"
exit_after_auth = true
VAULT_BLOCK
auto_auth {
  METHOD
  sink "file" { config { path = "{dir}/token" } }
}
template {
  contents    = "{{kv \"secret/app/config\" \"password\"}}"
  destination = "{dir}/out.txt"
}
"#;

fn job(method: &str, vault_block: &str) -> String {
    JOB.replace("METHOD", method)
        .replace("VAULT_BLOCK", vault_block)
}

/// Mounts the PKI engine at `pki/` with a root CA (EC keys) and a role `client` that issues
/// client certificates; returns the CA certificate's file.
fn pki_root(case: &Case) -> std::path::PathBuf {
    case.server.bao(&["secrets", "enable", "pki"]);
    let ca = case.server.bao(&[
        "write",
        "-field=certificate",
        "pki/root/generate/internal",
        "common_name=vaultward test CA",
        "key_type=ec",
        "ttl=24h",
    ]);
    case.server.bao(&[
        "write",
        "pki/roles/client",
        "allow_any_name=true",
        "client_flag=true",
        "server_flag=false",
        "key_type=ec",
        "max_ttl=24h",
    ]);
    let path = case.path("test-ca.pem");
    std::fs::write(&path, format!("{ca}\n")).unwrap();
    path
}

// === token_file ===

#[test]
fn token_file_hands_a_token_made_elsewhere_to_the_sink_and_the_templates() {
    let case = Case::new();
    let token = case.server.bao(&[
        "token",
        "create",
        "-policy=vaultward-read",
        "-ttl=1h",
        "-field=token",
    ]);
    std::fs::write(case.path("vault-token"), format!("  {token}\n")).unwrap();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "token_file" {
    exit_on_err = true
    config { token_file_path = "{dir}/vault-token" }
  }"#,
            "",
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    // The token itself, trimmed: no login made a new one.
    assert_eq!(case.read("token"), token);
    assert_eq!(case.read("out.txt"), "hunter2");
    // The file is kept, as Vault Agent keeps it.
    assert_eq!(case.read("vault-token"), format!("  {token}\n"));
    assert!(
        text(&output).contains("Authenticated with token_file at auth/token."),
        "{}",
        text(&output)
    );
}

#[test]
fn token_file_with_a_revoked_token_fails_with_what_to_do() {
    let case = Case::new();
    let token = case
        .server
        .bao(&["token", "create", "-policy=vaultward-read", "-field=token"]);
    case.server.bao(&["token", "revoke", &token]);
    std::fs::write(case.path("vault-token"), &token).unwrap();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "token_file" {
    exit_on_err = true
    config { token_file_path = "{dir}/vault-token" }
  }"#,
            "",
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let expected = format!(
        "token_file login at `auth/token` failed: GET {addr}/v1/auth/token/lookup-self returned 403: permission denied; the token in `{dir}/vault-token` is not valid on this server (expired, revoked, or from another server or namespace): write a valid token to the file (exit_on_err is set, so vaultward exits instead of retrying)",
        addr = case.server.addr,
        dir = case.dir.path().display()
    );
    assert!(text(&output).contains(&expected), "{}", text(&output));
}

#[test]
fn token_file_a_new_token_in_the_file_reaches_the_sink() {
    let case = Case::new();
    let create = || {
        case.server.bao(&[
            "token",
            "create",
            "-policy=vaultward-read",
            "-ttl=1h",
            "-field=token",
        ])
    };
    let first = create();
    std::fs::write(case.path("vault-token"), &first).unwrap();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "token_file" {
    config { token_file_path = "{dir}/vault-token" }
  }"#,
            "",
        )
        .replace("exit_after_auth = true", ""),
    );
    let agent = case.spawn_agent(&config, &[], &[]);
    let sink = case.path("token");
    let holds = |token: &str| std::fs::read_to_string(&sink).is_ok_and(|t| t == token);
    assert!(
        wait_until(Duration::from_secs(30), || holds(&first)).is_some(),
        "{}",
        agent.log()
    );
    let second = create();
    std::fs::write(case.path("vault-token"), &second).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || holds(&second)).is_some(),
        "{}",
        agent.log()
    );
    assert_eq!(case.read("out.txt"), "hunter2");
}

#[test]
fn token_file_a_token_at_its_max_ttl_is_read_again_until_a_new_one_is_written() {
    let case = Case::new();
    let short = case.server.bao(&[
        "token",
        "create",
        "-policy=vaultward-read",
        "-ttl=3s",
        "-explicit-max-ttl=8s",
        "-field=token",
    ]);
    std::fs::write(case.path("vault-token"), &short).unwrap();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "token_file" {
    min_backoff = "200ms"
    max_backoff = "1s"
    config { token_file_path = "{dir}/vault-token" }
  }"#,
            "",
        )
        .replace("exit_after_auth = true", ""),
    );
    let agent = case.spawn_agent(&config, &[], &[]);
    let warning = "The token file still holds the current token, which can no longer be renewed";
    assert!(
        wait_until(Duration::from_secs(30), || agent.log().contains(warning)).is_some(),
        "{}",
        agent.log()
    );
    let long = case.server.bao(&[
        "token",
        "create",
        "-policy=vaultward-read",
        "-ttl=1h",
        "-field=token",
    ]);
    std::fs::write(case.path("vault-token"), &long).unwrap();
    let sink = case.path("token");
    assert!(
        wait_until(Duration::from_secs(30), || {
            std::fs::read_to_string(&sink).is_ok_and(|token| token == long)
        })
        .is_some(),
        "{}",
        agent.log()
    );
    // Near the end, the same token was looked up a few times, not in a tight loop.
    let lookups = agent.log().matches(warning).count();
    assert!(lookups < 10, "{lookups} look-ups:\n{}", agent.log());
}

// === jwt ===

/// A JWT auth mount at `auth/jwt` trusting `signer`, with a role `web` for audience
/// `vaultward` whose tokens read the case's secrets.
fn jwt_mount(case: &Case, signer: &JwtSigner) {
    case.server.bao(&["auth", "enable", "jwt"]);
    case.server.bao(&[
        "write",
        "auth/jwt/config",
        &format!("jwt_validation_pubkeys={}", signer.public_key_pem),
    ]);
    case.server.bao(&[
        "write",
        "auth/jwt/role/web",
        "role_type=jwt",
        "bound_audiences=vaultward",
        "user_claim=sub",
        "token_policies=vaultward-read",
        "token_ttl=1h",
    ]);
}

fn claims(subject: &str, audience: &str) -> serde_json::Value {
    let now = unix_now();
    json!({
        "iss": "vaultward-test",
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now - 5,
        "exp": now + 600,
    })
}

#[test]
fn jwt_login_renders_and_removes_the_jwt_file() {
    let case = Case::new();
    let signer = JwtSigner::new();
    jwt_mount(&case, &signer);
    std::fs::write(
        case.path("jwt"),
        format!("{}\n", signer.sign(&claims("app-1", "vaultward"))),
    )
    .unwrap();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "jwt" {
    exit_on_err = true
    config {
      path = "{dir}/jwt"
      role = "web"
    }
  }"#,
            "",
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("out.txt"), "hunter2");
    case.assert_token_valid(&case.read("token"));
    // remove_jwt_after_reading defaults to true, as in Vault Agent.
    assert!(!case.path("jwt").exists());
    assert!(
        text(&output).contains("Authenticated with JWT at auth/jwt."),
        "{}",
        text(&output)
    );
}

#[test]
fn jwt_removal_follows_a_symlink_only_when_asked() {
    let case = Case::new();
    let signer = JwtSigner::new();
    jwt_mount(&case, &signer);
    let method = |follows: bool| {
        format!(
            r#"method "jwt" {{
    exit_on_err = true
    config {{
      path = "{{dir}}/jwt-link"
      role = "web"
      remove_jwt_follows_symlinks = {follows}
    }}
  }}"#
        )
    };
    for follows in [false, true] {
        std::fs::write(
            case.path("jwt-target"),
            signer.sign(&claims("app-1", "vaultward")),
        )
        .unwrap();
        let _ = std::fs::remove_file(case.path("jwt-link"));
        std::os::unix::fs::symlink(case.path("jwt-target"), case.path("jwt-link")).unwrap();
        let config = case.config("config.hcl", &job(&method(follows), ""));
        let (output, _) = case.agent(&config, &[]);
        assert!(output.status.success(), "{}", text(&output));
        if follows {
            assert!(case.path("jwt-link").is_symlink());
            assert!(!case.path("jwt-target").exists());
        } else {
            assert!(!case.path("jwt-link").is_symlink());
            assert!(case.path("jwt-target").exists());
        }
    }
}

#[test]
fn jwt_refused_names_the_mount_and_role_and_says_what_to_check() {
    let case = Case::new();
    let signer = JwtSigner::new();
    jwt_mount(&case, &signer);
    std::fs::write(
        case.path("jwt"),
        signer.sign(&claims("app-1", "someone-else")),
    )
    .unwrap();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "jwt" {
    exit_on_err = true
    config {
      path = "{dir}/jwt"
      role = "web"
    }
  }"#,
            "",
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "JWT login at `auth/jwt` with role `web` failed: POST {}/v1/auth/jwt/login returned 400: error validating token: invalid audience (aud) claim: audience claim does not match any expected audience; check that role `web` exists on the mount, that the mount's keys (`jwt_validation_pubkeys`, `jwks_url` or `oidc_discovery_url`) verify the JWT in `{}/jwt`, and that its claims (audience, subject, expiry) match the role's `bound_audiences`, `bound_claims` and `user_claim`",
        case.server.addr,
        case.dir.path().display()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    // A refused JWT is not removed: it was not used.
    assert!(case.path("jwt").exists());
}

#[test]
fn jwt_a_rotated_file_leads_to_a_fresh_login() {
    let case = Case::new();
    let signer = JwtSigner::new();
    jwt_mount(&case, &signer);
    std::fs::write(case.path("jwt"), signer.sign(&claims("app-1", "vaultward"))).unwrap();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "jwt" {
    config {
      path = "{dir}/jwt"
      role = "web"
      remove_jwt_after_reading = false
    }
  }"#,
            "",
        )
        .replace("exit_after_auth = true", ""),
    );
    let agent = case.spawn_agent(&config, &[], &[]);
    let sink = case.path("token");
    assert!(
        wait_until(Duration::from_secs(30), || sink.exists()).is_some(),
        "{}",
        agent.log()
    );
    let first = case.read("token");
    // Kept: remove_jwt_after_reading is false.
    assert!(case.path("jwt").exists());
    // Rotated as a projected token is: written to a temporary file and renamed over it.
    std::fs::write(
        case.path("jwt.new"),
        signer.sign(&claims("app-2", "vaultward")),
    )
    .unwrap();
    std::fs::rename(case.path("jwt.new"), case.path("jwt")).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || {
            std::fs::read_to_string(&sink).is_ok_and(|token| token != first)
        })
        .is_some(),
        "{}",
        agent.log()
    );
    let second = case.read("token");
    case.assert_token_valid(&second);
    // The new token belongs to the new JWT's subject.
    let lookup = case
        .server
        .bao(&["token", "lookup", "-format=json", &second]);
    assert!(lookup.contains("app-2"), "{lookup}");
    assert!(
        agent.log().contains("New credentials appeared"),
        "{}",
        agent.log()
    );
}

// === kubernetes ===

#[test]
fn kubernetes_sends_the_role_and_the_service_account_token_and_says_what_failed() {
    let server = DevServer::start_audited();
    let case = Case::with_server(server);
    // No Kubernetes API here: the mount points at a loopback port nobody listens on, so
    // the server cannot review the token, and the login fails after the request was made.
    let unreachable = vaultward_test_support::free_port();
    case.server.bao(&["auth", "enable", "kubernetes"]);
    case.server.bao(&[
        "write",
        "auth/kubernetes/config",
        &format!("kubernetes_host=https://127.0.0.1:{unreachable}"),
        "disable_local_ca_jwt=true",
        &format!("kubernetes_ca_cert=@{}", pki_root(&case).display()),
    ]);
    case.server.bao(&[
        "write",
        "auth/kubernetes/role/web",
        "bound_service_account_names=vaultward",
        "bound_service_account_namespaces=default",
        "token_policies=vaultward-read",
    ]);
    let signer = JwtSigner::new();
    let now = unix_now();
    let service_account_token = signer.sign(&json!({
        "iss": "kubernetes/serviceaccount",
        "sub": "system:serviceaccount:default:vaultward",
        "kubernetes.io/serviceaccount/namespace": "default",
        "kubernetes.io/serviceaccount/service-account.name": "vaultward",
        "kubernetes.io/serviceaccount/service-account.uid": "0b7e2c1e-6a4f-4f7e-9d55-3f0f5b0d9a10",
        "iat": now,
        "exp": now + 600,
    }));
    std::fs::create_dir_all(case.path("serviceaccount")).unwrap();
    std::fs::write(
        case.path("serviceaccount/token"),
        format!("{service_account_token}\n"),
    )
    .unwrap();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "kubernetes" {
    exit_on_err = true
    config {
      role       = "web"
      token_path = "{dir}/serviceaccount/token"
    }
  }"#,
            "",
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let logins: Vec<_> = case
        .server
        .audited_request_bodies()
        .into_iter()
        .filter(|request| request.path == "auth/kubernetes/login")
        .collect();
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0].operation, "update");
    // Exactly the file's token, trimmed, and the role; nothing else.
    assert_eq!(
        logins[0].data,
        json!({"role": "web", "jwt": service_account_token})
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "Kubernetes login at `auth/kubernetes` with role `web` failed: POST {}/v1/auth/kubernetes/login returned ",
        case.server.addr
    );
    assert!(stderr.contains(&expected), "{stderr}");
    let advice = format!(
        "check that role `web` exists on the mount and is bound to this pod's service account and namespace, that `{}/serviceaccount/token` holds this pod's service account token, and that the server reaches the Kubernetes API to review it (`kubernetes_host` in the mount's `config`)",
        case.dir.path().display()
    );
    assert!(stderr.contains(&advice), "{stderr}");
    // The token file is Kubernetes' own: never removed.
    assert!(case.path("serviceaccount/token").exists());
}

#[test]
fn kubernetes_a_missing_token_file_is_named() {
    let case = Case::new();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "kubernetes" {
    exit_on_err = true
    config {
      role       = "web"
      token_path = "{dir}/no-such-token"
    }
  }"#,
            "",
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let expected = format!(
        "cannot read the Kubernetes service account token file `{}/no-such-token`: No such file or directory (os error 2)",
        case.dir.path().display()
    );
    assert!(text(&output).contains(&expected), "{}", text(&output));
}

// === namespace ===

#[test]
fn the_methods_namespace_is_used_for_the_login_and_the_templates() {
    let case = Case::new();
    case.server.bao(&["namespace", "create", "team1"]);
    let in_ns = |args: &[&str]| case.server.bao_in("team1", args);
    in_ns(&["auth", "enable", "approle"]);
    in_ns(&["secrets", "enable", "-path=secret", "-version=2", "kv"]);
    std::fs::write(
        case.path("ns-policy.hcl"),
        "path \"secret/*\" { capabilities = [\"read\"] }\npath \"sys/internal/ui/mounts/*\" { capabilities = [\"read\"] }\n",
    )
    .unwrap();
    in_ns(&[
        "policy",
        "write",
        "ns-read",
        case.path("ns-policy.hcl").to_str().unwrap(),
    ]);
    in_ns(&["write", "auth/approle/role/app", "token_policies=ns-read"]);
    let role_id = in_ns(&["read", "-field=role_id", "auth/approle/role/app/role-id"]);
    let secret_id = in_ns(&[
        "write",
        "-f",
        "-field=secret_id",
        "auth/approle/role/app/secret-id",
    ]);
    vaultward_test_support::remember_secret(&secret_id);
    vaultward_test_support::remember_secret("in-team1-method");
    in_ns(&[
        "kv",
        "put",
        "-mount=secret",
        "app/config",
        "password=in-team1-method",
    ]);
    std::fs::write(case.path("ns-roleid"), role_id).unwrap();
    std::fs::write(case.path("ns-secretid"), secret_id).unwrap();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "approle" {
    namespace   = "team1"
    exit_on_err = true
    config {
      role_id_file_path   = "{dir}/ns-roleid"
      secret_id_file_path = "{dir}/ns-secretid"
    }
  }"#,
            "",
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    // The root namespace holds "hunter2" at the same path: this is team1's secret.
    // (and the login went to team1: the root namespace's role `app` has another role_id).
    assert_eq!(case.read("out.txt"), "in-team1-method");
}

// === cert and the vault block's TLS settings ===

/// A TLS dev server with the PKI engine, a client certificate it issued (in `client.pem` and
/// `client-key.pem`), and the cert auth method trusting its CA for the role `web`.
fn cert_case() -> Case {
    let case = Case::with_server(DevServer::start_tls());
    let ca = pki_root(&case);
    let issued = case.server.bao(&[
        "write",
        "-format=json",
        "pki/issue/client",
        "common_name=vaultward-client",
        "ttl=1h",
    ]);
    let issued: serde_json::Value = serde_json::from_str(&issued).unwrap();
    let key = issued["data"]["private_key"].as_str().unwrap();
    vaultward_test_support::remember_secret(key);
    std::fs::write(
        case.path("client.pem"),
        issued["data"]["certificate"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(case.path("client-key.pem"), key).unwrap();
    case.server.bao(&["auth", "enable", "cert"]);
    case.server.bao(&[
        "write",
        "auth/cert/certs/web",
        &format!("certificate=@{}", ca.display()),
        "token_policies=vaultward-read",
    ]);
    case
}

#[test]
fn cert_login_with_the_methods_own_certificate() {
    let case = cert_case();
    let config = case.config(
        "config.hcl",
        &job(
            r#"method "cert" {
    exit_on_err = true
    config {
      name        = "web"
      client_cert = "{dir}/client.pem"
      client_key  = "{dir}/client-key.pem"
    }
  }"#,
            &format!(
                "vault {{\n  ca_cert = \"{}\"\n}}",
                case.server.ca_cert().display()
            ),
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("out.txt"), "hunter2");
    assert!(
        text(&output).contains("Authenticated with cert at auth/cert."),
        "{}",
        text(&output)
    );
    // Without a certificate the server cannot log the agent in: the failure says where to
    // look.
    case.server.bao(&["delete", "auth/cert/certs/web"]);
    case.server.bao(&[
        "write",
        "auth/cert/certs/web",
        &format!("certificate=@{}", case.server.ca_cert().display()),
        "token_policies=vaultward-read",
    ]);
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cert login at `auth/cert` with certificate role `web` failed: POST {}/v1/auth/cert/login returned ",
            case.server.addr
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("check that `auth/cert/certs/web` exists and that its `certificate` is the CA that signed the client certificate"),
        "{stderr}"
    );
}

#[test]
fn cert_login_with_the_vault_blocks_certificate_ca_path_and_tls_server_name() {
    let case = cert_case();
    // `ca_path`: a directory of PEM files; a file that holds no certificate is skipped.
    std::fs::create_dir_all(case.path("cas")).unwrap();
    std::fs::copy(case.server.ca_cert(), case.path("cas/dev-ca.pem")).unwrap();
    std::fs::write(case.path("cas/README"), "not a certificate\n").unwrap();
    let vault_block = |server_name: &str| {
        format!(
            r#"vault {{
  ca_path         = "{{dir}}/cas"
  client_cert     = "{{dir}}/client.pem"
  client_key      = "{{dir}}/client-key.pem"
  tls_server_name = "{server_name}"
}}"#
        )
    };
    let method = r#"method "cert" {
    exit_on_err = true
    config { name = "web" }
  }"#;
    // The address is https://127.0.0.1:PORT; the server's certificate also names
    // `localhost4`, which is what is sent and verified here.
    let config = case.config("config.hcl", &job(method, &vault_block("localhost4")));
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("out.txt"), "hunter2");

    // A name the certificate does not hold is refused by the TLS layer: the name is used.
    let config = case.config("wrong.hcl", &job(method, &vault_block("vault.example.com")));
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(
        text(&output).contains("certificate not valid for name \"vault.example.com\""),
        "{}",
        text(&output)
    );

    // A cert method with no certificate anywhere is a config error before any request.
    let config = case.config(
        "none.hcl",
        &job(
            method,
            &format!(
                "vault {{\n  ca_cert = \"{}\"\n}}",
                case.server.ca_cert().display()
            ),
        ),
    );
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(78), "{}", text(&output));
    assert!(
        text(&output).contains("the cert auth method at `auth/cert` has no client certificate: set `client_cert` and `client_key` in `auto_auth.method.config`, or in `vault {}`"),
        "{}",
        text(&output)
    );
}

/// AppRole with a response-wrapped secret_id in the secret_id file.
const WRAPPED_SECRET_ID: &str = r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    exit_on_err = true
    config = {
      role_id_file_path = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
      secret_id_response_wrapping_path = "auth/approle/role/app/secret-id"
    }
  }
  sink "file" {
    config = { path = "{dir}/token" }
  }
}
template {
  destination = "{dir}/out.txt"
  contents = "{{ with secret \"secret/data/app/config\" }}{{ .Data.data.password }}{{ end }}"
}
"#;

#[test]
fn a_response_wrapped_secret_id_is_checked_unwrapped_and_used() {
    let case = Case::new();
    let wrapping = case.server.bao(&[
        "write",
        "-wrap-ttl=5m",
        "-field=wrapping_token",
        "-f",
        "auth/approle/role/app/secret-id",
    ]);
    vaultward_test_support::remember_secret(&wrapping);
    std::fs::write(case.path("secretid"), &wrapping).unwrap();
    let config = case.config("config.hcl", WRAPPED_SECRET_ID);
    let (output, _) = case.agent(&config, &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(case.read("out.txt"), "hunter2");
    case.assert_token_valid(&case.read("token"));
    assert!(!case.path("secretid").exists(), "the used file is removed");

    // A wrapping token made somewhere else is refused, and left unused for inspection.
    let elsewhere = case.server.bao(&[
        "write",
        "-wrap-ttl=5m",
        "-field=wrapping_token",
        "sys/wrapping/wrap",
        "secret_id=forged",
    ]);
    vaultward_test_support::remember_secret(&elsewhere);
    std::fs::write(case.path("secretid"), &elsewhere).unwrap();
    let (output, _) = case.agent(&config, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let log = text(&output);
    assert!(
        log.contains("SECURITY: it was created at `sys/wrapping/wrap`, not at `auth/approle/role/app/secret-id`"),
        "{log}"
    );
    let still = case.server.bao(&["unwrap", "-field=secret_id", &elsewhere]);
    assert_eq!(still, "forged", "the suspicious token was not consumed");
}
