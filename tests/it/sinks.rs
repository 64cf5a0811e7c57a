//! Sinks that wrap (`wrap_ttl`) or encrypt (`dh_type`) the token, against a real server, and
//! the files compared in shape with `bao agent`'s for the same config.

use std::process::Command;
use std::time::Duration;

use vaultward_test_support::DhClient;

use crate::support::{Case, run_with_limit, text, vaultward};

const CONFIG: &str = r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    config = {
      role_id_file_path = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    config = { path = "{out}/plain" }
  }
  sink "file" {
    wrap_ttl = "5m"
    config = { path = "{out}/wrapped" }
  }
  sink "file" {
    dh_type = "curve25519"
    dh_path = "{out}/dh.json"
    derive_key = true
    aad = "app-42"
    config = { path = "{out}/encrypted" }
  }
  sink "file" {
    wrap_ttl = "2m"
    dh_type = "curve25519"
    dh_path = "{out}/dh2.json"
    config = { path = "{out}/wrapped-encrypted" }
  }
}
"#;

/// Runs `program agent` with the config in `out`; returns the two DH clients' files written.
fn run(case: &Case, program: &str, out: &std::path::Path) -> (DhClient, DhClient) {
    std::fs::create_dir_all(out).unwrap();
    let (first, second) = (DhClient::new(), DhClient::new());
    std::fs::write(out.join("dh.json"), first.public_key_json()).unwrap();
    std::fs::write(out.join("dh2.json"), second.public_key_json()).unwrap();
    let config = out.join("config.hcl");
    std::fs::write(
        &config,
        CONFIG
            .replace("{dir}", &case.dir.path().display().to_string())
            .replace("{out}", &out.display().to_string()),
    )
    .unwrap();
    let mut command = if program == "vaultward" {
        vaultward()
    } else {
        let mut bao = Command::new(vaultward_test_support::bao_bin());
        bao.env("HOME", out);
        bao
    };
    command
        .arg("agent")
        .arg(format!("-config={}", config.display()))
        .env("VAULT_ADDR", &case.server.addr)
        .env_remove("BAO_ADDR");
    let (output, _) = run_with_limit(&mut command, Duration::from_secs(60));
    assert!(output.status.success(), "{program}: {}", text(&output));
    (first, second)
}

/// The wrap-info's keys in order, and the token it wraps (unwrapped at the server).
fn unwrap(case: &Case, wrap_info: &str) -> (Vec<String>, serde_json::Value, String) {
    let keys: Vec<String> = wrap_info
        .trim_start_matches('{')
        .split(',')
        .filter_map(|part| {
            part.split_once(':')
                .map(|(key, _)| key.trim_matches('"').to_owned())
        })
        .collect();
    let info: serde_json::Value = serde_json::from_str(wrap_info).unwrap();
    let token = case
        .server
        .bao(&["unwrap", "-field=token", info["token"].as_str().unwrap()]);
    (keys, info, token)
}

#[test]
fn wrapped_and_encrypted_sinks_hold_what_bao_agents_hold() {
    let case = Case::new();
    let ours = case.path("vaultward");
    let theirs = case.path("bao");
    let (first, second) = run(&case, "vaultward", &ours);
    let (bao_first, bao_second) = run(&case, "bao", &theirs);

    let plain = std::fs::read_to_string(ours.join("plain")).unwrap();
    case.assert_token_valid(&plain);

    // Wrapped: a wrapping token for the agent's token, in the same JSON as bao agent's.
    let wrapped = std::fs::read_to_string(ours.join("wrapped")).unwrap();
    let bao_wrapped = std::fs::read_to_string(theirs.join("wrapped")).unwrap();
    let (keys, info, unwrapped) = unwrap(&case, &wrapped);
    let (bao_keys, bao_info, _) = unwrap(&case, &bao_wrapped);
    assert_eq!(unwrapped, plain, "the wrapped token is the agent's");
    assert_eq!(keys, bao_keys, "{wrapped}\n{bao_wrapped}");
    assert_eq!(info["creation_path"], bao_info["creation_path"]);
    assert_eq!(info["ttl"], 300);
    assert_eq!(
        wrapped.ends_with('\n'),
        bao_wrapped.ends_with('\n'),
        "trailing newline: {wrapped:?} / {bao_wrapped:?}"
    );

    // Encrypted: the client opens it; the envelope has bao agent's shape.
    let encrypted = std::fs::read_to_string(ours.join("encrypted")).unwrap();
    let bao_encrypted = std::fs::read_to_string(theirs.join("encrypted")).unwrap();
    assert!(!encrypted.contains(&plain));
    assert_eq!(first.open(&encrypted, true, b"app-42"), plain);
    let bao_plain = std::fs::read_to_string(theirs.join("plain")).unwrap();
    assert_eq!(
        bao_first.open(&bao_encrypted, true, b"app-42"),
        bao_plain,
        "our client reads bao agent's envelope"
    );
    let shape = |envelope: &str| -> Vec<String> {
        let json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(envelope).unwrap();
        json.keys().cloned().collect()
    };
    assert_eq!(shape(&encrypted), shape(&bao_encrypted));
    assert_eq!(
        encrypted.split('"').step_by(2).collect::<Vec<_>>().len(),
        bao_encrypted
            .split('"')
            .step_by(2)
            .collect::<Vec<_>>()
            .len()
    );
    assert_eq!(
        encrypted.ends_with('\n'),
        bao_encrypted.ends_with('\n'),
        "{bao_encrypted:?}"
    );

    // Wrapped, then encrypted.
    let both = std::fs::read_to_string(ours.join("wrapped-encrypted")).unwrap();
    let inner = second.open(&both, false, b"");
    let (_, _, token) = unwrap(&case, &inner);
    assert_eq!(token, plain);
    let bao_both = std::fs::read_to_string(theirs.join("wrapped-encrypted")).unwrap();
    let bao_inner = bao_second.open(&bao_both, false, b"");
    assert_eq!(
        inner.ends_with('\n'),
        bao_inner.ends_with('\n'),
        "{bao_inner:?}"
    );
}

#[test]
fn a_wrapped_login_puts_bao_agents_wrap_info_in_the_one_sink() {
    let case = Case::new();
    let config = r#"
exit_after_auth = true
auto_auth {
  method "approle" {
    wrap_ttl = "2m"
    config = {
      role_id_file_path = "{dir}/roleid"
      secret_id_file_path = "{dir}/secretid"
      remove_secret_id_file_after_reading = false
    }
  }
  sink "file" {
    config = { path = "{out}/wrapped" }
  }
}
"#;
    let mut files = Vec::new();
    for program in ["vaultward", "bao"] {
        let out = case.path(&format!("login-{program}"));
        std::fs::create_dir_all(&out).unwrap();
        let path = out.join("config.hcl");
        std::fs::write(
            &path,
            config
                .replace("{dir}", &case.dir.path().display().to_string())
                .replace("{out}", &out.display().to_string()),
        )
        .unwrap();
        let mut command = if program == "vaultward" {
            vaultward()
        } else {
            let mut bao = Command::new(vaultward_test_support::bao_bin());
            bao.env("HOME", &out);
            bao
        };
        command
            .arg("agent")
            .arg(format!("-config={}", path.display()))
            .env("VAULT_ADDR", &case.server.addr)
            .env_remove("BAO_ADDR");
        let (output, _) = run_with_limit(&mut command, Duration::from_secs(60));
        assert!(output.status.success(), "{program}: {}", text(&output));
        files.push(std::fs::read_to_string(out.join("wrapped")).unwrap());
    }
    let (ours, theirs) = (&files[0], &files[1]);
    let (keys, info, token) = unwrap(&case, ours);
    let (bao_keys, bao_info, _) = unwrap(&case, theirs);
    assert_eq!(keys, bao_keys, "{ours}\n{theirs}");
    assert_eq!(info["creation_path"], "auth/approle/login");
    assert_eq!(info["creation_path"], bao_info["creation_path"]);
    assert_eq!(info["ttl"], 120);
    assert_eq!(ours.ends_with('\n'), theirs.ends_with('\n'));
    case.assert_token_valid(&token);
}
