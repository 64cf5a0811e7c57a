//! Vault Agent configs with Go (consul-template) templates, run unchanged through vaultward
//! and through `bao agent` against the same real server: every rendered file must be byte for
//! byte the same.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{Case, run_with_limit, text, vaultward};

/// The classic "Vault-aware nginx" agent ConfigMap: quoted HCL1 keys, AppRole, a file sink,
/// `exit_after_auth`, a Go template reading `.Data.data.password`.
const NGINX: &str = r#"
"exit_after_auth" = true
"pid_file" = "{out}/pidfile"
"auto_auth" = {
  "method" = {
    "type" = "approle"
    "config" = {
      "role_id_file_path" = "{dir}/roleid"
      "secret_id_file_path" = "{dir}/secretid"
      "remove_secret_id_file_after_reading" = false
    }
  }
  "sink" = {
    "type" = "file"
    "config" = { "path" = "{out}/.vault-token" }
  }
}
"template" = {
  "destination" = "{out}/index.html"
  "contents" = <<EOT
<html>
<body>
<p>Some secrets:</p>
{{- with secret "secret/data/app/config" }}
<ul>
<li><pre>username: {{ .Data.data.user }}</pre></li>
<li><pre>password: {{ .Data.data.password }}</pre></li>
</ul>
{{ end }}
</body>
</html>
EOT
}
"#;

/// Templates using the functions Vault Agent templates use most, each into its own file.
const FUNCTIONS: &[(&str, &str)] = &[
    (
        "kv2.txt",
        r#"{{ with secret "secret/data/app/config" }}{{ .Data.data.password }}|{{ .Data.data.user }}|{{ .Data.metadata.version }}{{ end }}"#,
    ),
    (
        "kv2-shim.txt",
        r#"{{ with secret "secret/app/config" }}{{ .Data.data.password }}{{ end }}"#,
    ),
    (
        "slashes.txt",
        r#"{{ with secret "/secret/data/app/config" }}{{ .Data.data.password }}{{ end }}|{{ with secret " secret/app/config/" }}{{ .Data.data.user }}{{ end }}"#,
    ),
    (
        "kv1.txt",
        r#"{{ with secret "kv1/app" }}{{ .Data.token }} {{ .LeaseDuration }} {{ .Renewable }}{{ end }}"#,
    ),
    (
        "json.txt",
        r#"{{ with secret "secret/data/app/special" }}{{ .Data.data | toJSON }}
{{ .Data.data | toJSONPretty }}
{{ .Data.data | toUnescapedJSON }}{{ end }}"#,
    ),
    (
        "yaml.txt",
        r#"{{ with secret "secret/data/app/config" }}{{ .Data.data | toYAML }}{{ end }}"#,
    ),
    (
        "yaml-special.txt",
        r#"{{ with secret "secret/data/app/special" }}{{ .Data.data | toYAML }}{{ end }}"#,
    ),
    (
        "yaml-numbers.txt",
        r#"{{ with secret "secret/data/app/numbers" }}{{ .Data | toYAML }}{{ end }}"#,
    ),
    (
        "yaml-edge.txt",
        r#"{{ with secret "secret/data/app/edge" }}{{ .Data.data | toYAML }}{{ end }}"#,
    ),
    (
        "strings.txt",
        r#"{{ with secret "secret/data/app/special" }}{{ index .Data.data "html" | base64Encode }}
{{ "aGVsbG8gd29ybGQ=" | base64Decode }}
{{ .Data.data.spaced | trimSpace }}|{{ .Data.data.csv | split "," | join ";" }}|{{ .Data.data.csv | contains "b" }}
{{ .Data.data.csv | replaceAll "," " and " }}
{{ .Data.data.pem | indent 4 }}
{{ printf "%s=%q" "key" .Data.data.spaced }}
{{ range $k, $v := .Data.data }}{{ $k }};{{ end }}
{{ if eq (index .Data.data "csv") "a,b,c" }}equal{{ else }}different{{ end }}
{{ env "VAULTWARD_CMP_ENV" }}|{{ .Data.data.nokey }}{{ end }}"#,
    ),
    (
        "deep-mount.txt",
        r#"{{ with secret "team/data/app" }}{{ .Data.data.k }}{{ end }}|{{ with secret "secret/data/app/config" }}{{ .Data.data.user }}{{ end }}"#,
    ),
    (
        "case.txt",
        r#"{{ "straße ΟΔΟΣ İx ǆ" | toUpper }}|{{ "ΟΔΟΣ İX ǅ" | toLower }}|{{ "aGVs\nbG8=\r\n" | base64Decode }}"#,
    ),
    (
        "yaml-blocks.txt",
        r#"{{ with secret "secret/data/app/yaml" }}{{ .Data.data | toYAML }}{{ end }}"#,
    ),
    (
        "empty-fields.txt",
        r#"{{ with secret "secret/data/app/config" }}{{ .Warnings }} {{ .LeaseID }}|{{ len .Warnings }}|{{ if .Auth }}auth{{ else }}no auth{{ end }}|{{ with .WrapInfo }}wrapped{{ else }}not wrapped{{ end }}{{ end }}"#,
    ),
    (
        "yaml-floats.txt",
        r#"{{ with secret "secret/data/app/floats" }}{{ .Data.data | toYAML }}{{ .Data.data.small | toJSON }} {{ .Data.data.huge | toJSON }}{{ end }}"#,
    ),
    (
        "numbers.txt",
        r#"{{ with secret "secret/data/app/numbers" }}{{ .Data.data.port }} {{ .Data.data.ratio }} {{ .Data.data.enabled }} {{ .Data.data | toJSON }}{{ end }}"#,
    ),
];

/// Writes the secrets every comparison reads.
fn seed(case: &Case) {
    case.server.enable_kv1();
    case.server.bao(&["write", "kv1/app", "token=t0k-kv1"]);
    // Written with the CLI directly, not `kv_put`: these values test formatting, and words
    // such as `trailing` must not count as secrets when another test's message contains them
    // (the leak check is shared by every test of the process).
    let put = |path: &str, pairs: &[&str]| {
        let mut args = vec!["kv", "put", "-mount=secret", path];
        args.extend_from_slice(pairs);
        case.server.bao(&args);
    };
    put(
        "app/special",
        &[
            "html=<a href=\"x\">&amp;</a>",
            "spaced=  padded value  ",
            "csv=a,b,c",
            "pem=-----BEGIN-----\nline one\nline two\n-----END-----",
        ],
    );
    put(
        "app/edge",
        &[
            "on=on",
            "date=2024-01-01",
            "colon=a: b",
            "hash=#x",
            "dash=- x",
            "trailing=trailing ",
            "tab=tab\there",
            "quote=it's",
            "unicode=日本語",
            "empty=",
            "number=0x1F",
            "float=1e3",
            "sexagesimal=1:20",
            "url=https://example.com/a?b=c#d",
            "ends=line\n",
            "multi=a\n\nb",
        ],
    );
    // Multi-line strings in every place yaml.v2 can meet them: under a key, in a list, as a
    // key, with leading, trailing and doubled line ends, and next to spaces.
    let yaml = case.path("yaml.json");
    std::fs::write(
        &yaml,
        r#"{"list": ["a\nb", "plain", "x\n", " lead\nx", "\nstart", "a\n\n"],
            "keep": "a\n\n", "newline": "\n", "lead": " lead\nx", "start": "\nstart",
            "nested": {"k\nx": "v", "deep": {"text": "one\ntwo\n"}},
            "crlf": "a\r\nb", "spacebreak": "a \nb", "breakspace": "a\n b",
            "octal": "0o17", "zero": "017", "tabbed": "a\n\tb",
            "matrix": [["a", "b"], [], ["c"]], "records": [{"x": "1", "y": "two"}, {}],
            "key2": "k", "key10": "k", "Key": "k", "_under": "k", "a01": "k", "a1": "k",
            "long": "word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word", "longquoted": "'word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word", "longdouble": "word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word\t",
            "emoji": "😀 ok", "bell": "\u0007\u001b\u0085\u2028\ufeff",
            "date": "2024-1-2", "time": "2024-01-02T03:04:05Z", "notdate": "2024-01-02x",
            "base60": "1:20", "notbase60": "1:99", "hexfloat": "0x1p-2",
            "complex\nkey": {"inner": "v"}, "KEYword word word word word word word word word word word word word word word word word word word word word word word word word word word word word word": "v"}"#,
    )
    .unwrap();
    case.server.bao(&[
        "kv",
        "put",
        "-mount=secret",
        "app/yaml",
        &format!("@{}", yaml.display()),
    ]);
    // A KV v2 mount whose path has `data` as its second segment: consul-template reads
    // `team/data/data/app` for `secret "team/data/app"`.
    case.server
        .bao(&["secrets", "enable", "-path=team/data", "-version=2", "kv"]);
    case.server
        .bao(&["kv", "put", "-mount=team/data", "app", "k=deep-value"]);
    let policy = case.path("policy.hcl");
    std::fs::write(
        &policy,
        "path \"secret/*\" { capabilities = [\"read\"] }\npath \"kv1/*\" { capabilities = [\"read\"] }\npath \"team/*\" { capabilities = [\"read\"] }\n",
    )
    .unwrap();
    case.server.bao(&[
        "policy",
        "write",
        "vaultward-read",
        policy.to_str().unwrap(),
    ]);
    let floats = case.path("floats.json");
    std::fs::write(
        &floats,
        r#"{"million": 1e6, "two": 2.0, "small": 0.00001, "ratio": 0.25, "big": 123456789012, "negative": -1.5e300, "huge": 1e21}"#,
    )
    .unwrap();
    case.server.bao(&[
        "kv",
        "put",
        "-mount=secret",
        "app/floats",
        &format!("@{}", floats.display()),
    ]);
    let numbers = case.path("numbers.json");
    std::fs::write(
        &numbers,
        r#"{"port": 5432, "ratio": 0.25, "enabled": true}"#,
    )
    .unwrap();
    case.server.bao(&[
        "kv",
        "put",
        "-mount=secret",
        "app/numbers",
        &format!("@{}", numbers.display()),
    ]);
}

/// Runs `config` (with `{out}` set to `out`) through vaultward as a Vault Agent user would:
/// `agent -config=… -log-level=debug`, the address in `VAULT_ADDR`.
fn run_vaultward(case: &Case, config: &str, out: &Path) -> String {
    std::fs::create_dir_all(out).unwrap();
    let path = out.join("config.hcl");
    std::fs::write(
        &path,
        config
            .replace("{out}", &out.display().to_string())
            .replace("{dir}", &case.dir.path().display().to_string()),
    )
    .unwrap();
    let mut command = vaultward();
    command
        .arg("agent")
        .arg(format!("-config={}", path.display()))
        .arg("-log-level=debug")
        .env("VAULT_ADDR", &case.server.addr)
        .env("VAULTWARD_CMP_ENV", "from-env");
    let (output, _) = run_with_limit(&mut command, Duration::from_secs(60));
    assert!(output.status.success(), "vaultward: {}", text(&output));
    text(&output)
}

/// Runs `config` (with `{out}` set to `out`) through `bao agent`, as a user would (`VAULT_ADDR`
/// from the environment).
fn run_bao(case: &Case, config: &str, out: &Path) {
    std::fs::create_dir_all(out).unwrap();
    let path = out.join("config.hcl");
    std::fs::write(
        &path,
        config
            .replace("{out}", &out.display().to_string())
            .replace("{dir}", &case.dir.path().display().to_string()),
    )
    .unwrap();
    let mut command = Command::new(vaultward_test_support::bao_bin());
    command
        .arg("agent")
        .arg(format!("-config={}", path.display()))
        .arg("-log-level=debug")
        .env("VAULT_ADDR", &case.server.addr)
        .env("HOME", out)
        .env("VAULTWARD_CMP_ENV", "from-env")
        .env_remove("BAO_ADDR")
        .env_remove("BAO_TOKEN")
        .env_remove("VAULT_TOKEN");
    let (output, _) = run_with_limit(&mut command, Duration::from_secs(60));
    assert!(output.status.success(), "bao agent: {}", text(&output));
}

/// Asserts the two directories hold the same files, byte for byte.
fn assert_same_files(names: &[&str], ours: &Path, theirs: &Path) {
    for name in names {
        let mine =
            std::fs::read(ours.join(name)).unwrap_or_else(|e| panic!("vaultward's {name}: {e}"));
        let bao =
            std::fs::read(theirs.join(name)).unwrap_or_else(|e| panic!("bao agent's {name}: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&mine),
            String::from_utf8_lossy(&bao),
            "{name} differs from bao agent's"
        );
    }
}

#[test]
fn the_vault_aware_nginx_config_renders_what_bao_agent_renders() {
    let case = Case::new();
    let ours = case.path("vaultward");
    let theirs = case.path("bao");
    let log = run_vaultward(&case, NGINX, &ours);
    run_bao(&case, NGINX, &theirs);
    assert_same_files(&["index.html"], &ours, &theirs);
    let page = std::fs::read_to_string(ours.join("index.html")).unwrap();
    assert!(page.contains("password: hunter2"), "{page}");
    case.assert_token_valid(&std::fs::read_to_string(ours.join(".vault-token")).unwrap());
    assert!(!log.contains("hunter2"));
}

#[test]
fn consul_template_functions_render_what_bao_agent_renders() {
    let case = Case::new();
    seed(&case);
    let mut config = String::from(
        "exit_after_auth = true\n\
         auto_auth {\n  method \"approle\" {\n    config = {\n      role_id_file_path = \"{dir}/roleid\"\n      secret_id_file_path = \"{dir}/secretid\"\n      remove_secret_id_file_after_reading = false\n    }\n  }\n  sink \"file\" {\n    config = { path = \"{out}/token\" }\n  }\n}\n\
         template_config {\n  exit_on_retry_failure = true\n}\n",
    );
    for (name, contents) in FUNCTIONS {
        config.push_str(&format!(
            "template {{\n  destination = \"{{out}}/{name}\"\n  contents = <<EOT\n{contents}\nEOT\n}}\n"
        ));
    }
    let ours = case.path("vaultward");
    let theirs = case.path("bao");
    run_vaultward(&case, &config, &ours);
    run_bao(&case, &config, &theirs);
    let names: Vec<&str> = FUNCTIONS.iter().map(|(name, _)| *name).collect();
    assert_same_files(&names, &ours, &theirs);
}

#[test]
fn pki_cert_keeps_a_good_certificate_in_its_destination_as_bao_agent_does() {
    let case = Case::with_server(vaultward_test_support::DevServer::start_audited());
    let server = &case.server;
    server.bao(&["secrets", "enable", "pki"]);
    server.bao(&["secrets", "tune", "-max-lease-ttl=87600h", "pki"]);
    server.bao(&[
        "write",
        "pki/root/generate/internal",
        "common_name=vaultward-test-ca",
        "ttl=87600h",
    ]);
    server.bao(&[
        "write",
        "pki/roles/web",
        "allowed_domains=example.com",
        "allow_subdomains=true",
        "max_ttl=72h",
    ]);
    std::fs::write(
        case.path("pki.hcl"),
        "path \"pki/issue/web\" { capabilities = [\"update\"] }\n",
    )
    .unwrap();
    server.bao(&[
        "policy",
        "write",
        "pki-issue",
        case.path("pki.hcl").to_str().unwrap(),
    ]);
    server.bao(&[
        "write",
        "auth/approle/role/app",
        "token_policies=vaultward-read,pki-issue",
    ]);
    let config = "exit_after_auth = true\n\
         auto_auth {\n  method \"approle\" {\n    config = {\n      role_id_file_path = \"{dir}/roleid\"\n      secret_id_file_path = \"{dir}/secretid\"\n      remove_secret_id_file_after_reading = false\n    }\n  }\n  sink \"file\" {\n    config = { path = \"{out}/token\" }\n  }\n}\n\
         template {\n  destination = \"{dir}/web.pem\"\n  contents = <<EOT\n{{ with pkiCert \"pki/issue/web\" \"common_name=app.example.com\" \"ttl=24h\" }}{{ .Cert }}{{ .Key }}{{ .Data.CA }}{{ end }}\nEOT\n}\n";
    let issues = || {
        server
            .audited_requests()
            .iter()
            .filter(|(op, path)| op == "update" && path == "pki/issue/web")
            .count()
    };
    run_vaultward(&case, config, &case.path("first"));
    let first = case.read("web.pem");
    assert!(
        first.contains("-----BEGIN CERTIFICATE-----") && first.contains("PRIVATE KEY-----"),
        "{first}"
    );
    assert_eq!(
        first.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "the certificate and the CA"
    );
    assert_eq!(issues(), 1);
    // The certificate in the destination is good: a second run issues nothing and keeps it.
    run_vaultward(&case, config, &case.path("second"));
    assert_eq!(case.read("web.pem"), first);
    assert_eq!(issues(), 1);
    // bao agent reads vaultward's file as its own cache: nothing issued, the same bytes.
    run_bao(&case, config, &case.path("bao"));
    assert_eq!(
        case.read("web.pem"),
        first,
        "bao agent rewrote the file differently"
    );
    assert_eq!(issues(), 1, "bao agent issued a new certificate");
    // A destination without a certificate gets a new one.
    std::fs::write(case.path("web.pem"), "not a certificate\n").unwrap();
    run_vaultward(&case, config, &case.path("third"));
    assert_ne!(case.read("web.pem"), first);
    assert_eq!(issues(), 2);
}

#[test]
fn vault_agent_example_configs_render_what_bao_agent_renders() {
    let case = Case::new();
    // The secret every example reads, as examples/README.md creates it.
    case.server
        .kv_put("app/config", &["username=app", "password=hunter2"]);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/vault-agent");
    std::fs::copy(examples.join("app.ctmpl"), case.path("app.ctmpl")).unwrap();
    let secret_id = case.read("secretid");
    for (config, outputs) in [
        ("nginx.hcl", &["index.html"][..]),
        ("app.hcl", &["app.env", "app.json", "app.conf"][..]),
    ] {
        let text = std::fs::read_to_string(examples.join(config))
            .unwrap()
            .replace("/etc/vault/", "{dir}/")
            .replace("/etc/secrets/", "{out}/");
        let ours = case.path(&format!("vaultward-{config}"));
        let theirs = case.path(&format!("bao-{config}"));
        // Both agents remove the secret_id file after a login, as the configs ask.
        std::fs::write(case.path("secretid"), &secret_id).unwrap();
        run_vaultward(&case, &text, &ours);
        std::fs::write(case.path("secretid"), &secret_id).unwrap();
        run_bao(&case, &text, &theirs);
        assert_same_files(outputs, &ours, &theirs);
        for name in outputs {
            let rendered = std::fs::read_to_string(ours.join(name)).unwrap();
            assert!(
                rendered.contains("hunter2") && !rendered.contains("<no value>"),
                "{config} → {name}: {rendered}"
            );
        }
    }
}

/// The HCL1 details Vault Agent configs rely on: quoted strings with Go escapes and `$${`
/// kept as written, `<<-EOT` heredocs that cannot be unindented (a blank line), heredocs in a
/// file with CRLF line ends, Go comments in templates.
#[test]
fn hcl_strings_heredocs_and_comments_render_what_bao_agent_renders() {
    let case = Case::new();
    let header = "exit_after_auth = true\n\
         auto_auth {\n  method \"approle\" {\n    config = {\n      role_id_file_path = \"{dir}/roleid\"\n      secret_id_file_path = \"{dir}/secretid\"\n      remove_secret_id_file_after_reading = false\n    }\n  }\n  sink \"file\" {\n    config = { path = \"{out}/token\" }\n  }\n}\n";
    let templates = [
        (
            "quoted.txt",
            "  contents = \"y=$${bar} w=%%{q} ${x} \\x41\\101\\t|\\u00e9\"\n",
        ),
        (
            "blank-line.txt",
            "  contents = <<-EOT\n    a\n\n    {{ with secret \"secret/data/app/config\" }}{{ .Data.data.password }}{{ end }}\n    EOT\n",
        ),
        (
            "less-indented.txt",
            "  contents = <<-EOT\n    a\n  b\n    EOT\n",
        ),
        (
            "comment.txt",
            "  contents = <<EOT\n{{/* the database password */}}{{ with secret \"secret/data/app/config\" }}{{- /* trimmed */ -}} {{ .Data.data.password }}{{ end }}\nEOT\n",
        ),
    ];
    let mut config = header.to_owned();
    for (name, body) in templates {
        config.push_str(&format!(
            "template {{\n  destination = \"{{out}}/{name}\"\n{body}}}\n"
        ));
    }
    let crlf = config.replace('\n', "\r\n");
    let names: Vec<&str> = templates.iter().map(|(name, _)| *name).collect();
    for (label, text) in [("lf", &config), ("crlf", &crlf)] {
        let ours = case.path(&format!("vaultward-{label}"));
        let theirs = case.path(&format!("bao-{label}"));
        run_vaultward(&case, text, &ours);
        run_bao(&case, text, &theirs);
        assert_same_files(&names, &ours, &theirs);
    }
    let quoted = std::fs::read_to_string(case.path("vaultward-lf/quoted.txt")).unwrap();
    assert_eq!(quoted, "y=$${bar} w=%%{q} ${x} AA\t|é");
}
