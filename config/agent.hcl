# vaultward reference configuration.
#
# Every key vaultward accepts is set below, with its meaning and its default. Values that have a
# default are set to it; the others are examples. `vaultward validate -config=config/agent.hcl`
# checks this file without any network access.
#
# The same file can be written in three spellings, which can be mixed across files:
#   - HCL2 block style, as here: `auto_auth { method "approle" { … } }`
#   - the quoted HCL1 style of Vault's own examples: `"auto_auth" = { "method" = { … } }`
#   - JSON (a `.json` file, or any file starting with `{`).
#
# Strictness: an unknown or misspelled key is an error (with the nearest valid key suggested),
# and so is a Vault Agent key that vaultward does not support (cache, listener, exec, …).
# Nothing is silently ignored. Every problem in every file is reported in one run (exit 78).
#
# Several -config flags, or a directory (its *.hcl and *.json files in name order), are merged
# as Vault Agent merges them: a later file's `vault`, `auto_auth`, `template_config`, `pid_file`,
# `log_level` and `log_format` replace earlier ones, `template` blocks are concatenated, and
# `exit_after_auth` is true if any file sets it.

# Exit after the first token is written to every sink and every template has rendered once.
# Use it for init containers and one-shot jobs. The -exit-after-auth flag turns it on too.
# A template that cannot be rendered ends the run with exit code 1: a missing secret, a 403 or
# a missing key is tried up to 5 times (with the auth method's backoff) first. Commands of
# templates whose file changed run before the exit.
# Default: false.
exit_after_auth = false

# Write the process id here at start (mode 0644, atomically) and remove it at exit.
# Default: unset (no pid file).
pid_file = "/run/vaultward/vaultward.pid"

# Log level: "trace", "debug", "info", "warn" or "error".
# The -log-level flag, then BAO_LOG_LEVEL / VAULT_LOG_LEVEL, win over this value.
# Default: "info".
log_level = "info"

# Log format: "standard" (human-readable lines) or "json" (one object per line), on stderr.
# The -log-format flag, then BAO_LOG_FORMAT / VAULT_LOG_FORMAT, win over this value.
# Default: "standard".
log_format = "standard"

# Where the server is and how to talk to it. Every key is optional. For each one the
# command-line flag wins, then the environment (BAO_* before VAULT_*), then this block, then
# the default. The address actually used and where it came from are logged at start.
vault {
  # Server URL; must start with http:// or https://.
  # Flag -address, env BAO_ADDR / VAULT_ADDR.
  # Default: "https://127.0.0.1:8200".
  address = "https://127.0.0.1:8200"

  # A PEM file of CA certificates to trust instead of the system's roots.
  # Flag -ca-cert, env BAO_CACERT / VAULT_CACERT. Read when the agent starts (not by validate).
  # Default: unset (the system's roots).
  ca_cert = "/etc/vault/ca.pem"

  # Accept any server certificate. Logged as a warning; for tests only.
  # Flag -tls-skip-verify, env BAO_SKIP_VERIFY / VAULT_SKIP_VERIFY.
  # Default: false.
  tls_skip_verify = false

  # A directory of PEM files of CA certificates to trust instead of the system's roots (with
  # ca_cert, both are trusted). Files that hold no certificate are skipped; at least one must.
  # Env BAO_CAPATH / VAULT_CAPATH.
  # Default: unset.
  ca_path = "/etc/vault/cas"

  # A client certificate and its private key (PEM files), presented to the server on every
  # connection (mutual TLS). Also what the "cert" auth method presents unless its own config
  # names a pair. Set both or neither.
  # Env BAO_CLIENT_CERT / VAULT_CLIENT_CERT and BAO_CLIENT_KEY / VAULT_CLIENT_KEY.
  # Default: unset.
  client_cert = "/etc/vault/client.pem"
  client_key  = "/etc/vault/client-key.pem"

  # The host name sent as SNI and verified in the server's certificate, when it is not the
  # address's host (an address by IP, a load balancer). Connections still go to the address's
  # host; the HTTP Host header carries this name too.
  # Env BAO_TLS_SERVER_NAME / VAULT_TLS_SERVER_NAME.
  # Default: unset (the address's host).
  tls_server_name = "vault.example.com"

  # Namespace sent as the X-Vault-Namespace header on every request (but the login, when
  # auto_auth.method.namespace is set).
  # Flag -namespace, env BAO_NAMESPACE / VAULT_NAMESPACE.
  # Default: unset (the root namespace). This one is an example value: remove it unless your
  # server uses namespaces.
  namespace = "team-a"

  # How template reads retry failures that may pass (transport errors, 5xx, 429, 412):
  # up to num_retries more attempts, 250ms apart and doubling up to 4s. Answers about the data
  # (404, 403) are not retried here. 0 means the default; -1 turns retries off.
  # Default: 12.
  retry {
    num_retries = 12
  }
}

# How to log in and where to put the token. Required, exactly once.
auto_auth {
  # The auth method, exactly one. `method "approle" { … }` (the type as a label) is the same as
  # `method { type = "approle" … }`. The types are "approle" (here), "token_file", "jwt",
  # "kubernetes" and "cert"; the config/methods/ directory lists every key of the others
  # (token-file.hcl, jwt.hcl, kubernetes.hcl, cert.hcl). The keys outside `config` are the
  # same for every method.
  method {
    # The method type. Required (as the label or as this key).
    type = "approle"

    # Where the method is mounted; logins go to <mount_path>/login. A trailing / is trimmed.
    # Default: "auth/<type>", here "auth/approle".
    mount_path = "auth/approle"

    # The first delay after a failed login; each further failure doubles it, minus up to 25 %
    # jitter, capped at max_backoff. A success starts again from min_backoff. The same schedule
    # spaces template retries. Durations are Go-style strings ("500ms", "30s", "1h30m") or a
    # whole number of seconds. Must be greater than zero.
    # Default: "1s".
    min_backoff = "1s"

    # The longest delay between login attempts (a hard cap; jitter never goes above it).
    # Must not be smaller than min_backoff.
    # Default: "5m".
    max_backoff = "5m"

    # Exit with code 1 on the first failed login instead of retrying with backoff.
    # Default: false.
    exit_on_err = false

    # Log in with a response-wrapped result: the (single) sink gets the wrap-info JSON for a
    # consumer to unwrap, and the agent keeps no token (no renewal, no templates).
    # Default: unset.
    # wrap_ttl = "5m"

    # The namespace the method is mounted in. Logins are sent there (X-Vault-Namespace);
    # templates and renewals use it too, unless -namespace, BAO_NAMESPACE / VAULT_NAMESPACE or
    # vault.namespace name another (in that order).
    # Default: unset (the root namespace, or vault.namespace). An example value here.
    namespace = "team-a"

    # The AppRole credentials. Both files are read again on every login attempt and trimmed
    # (a trailing newline from a Kubernetes Secret is fine); the last good values are kept in
    # memory for later logins, so the files may disappear after the first one.
    config {
      # The file holding the role_id. Required.
      role_id_file_path = "/etc/vault/approle/role-id"

      # The file holding the secret_id. Leave it out (or set it to "") for a role with
      # bind_secret_id = false; then only the role_id is sent.
      # Default: unset.
      secret_id_file_path = "/etc/vault/approle/secret-id"

      # Delete the secret_id file after a successful login with it. vaultward deletes it only
      # after the login succeeded, so a failed login does not lose a one-time secret_id.
      # Set it to false when the file lives on a read-only volume (a Kubernetes Secret).
      # Default: true.
      remove_secret_id_file_after_reading = true

      # The secret_id file holds a response-wrapping token, which must have been created at
      # this path; it is checked, unwrapped, and the secret_id inside is used.
      # Default: unset (the file holds the secret_id itself).
      # secret_id_response_wrapping_path = "auth/approle/role/app/secret-id"
    }
  }

  # A token sink: a file that receives every new token (the raw token, no trailing newline),
  # written atomically. Repeatable. `sink "file" { … }` (the type as a label) is the same as
  # `sink { type = "file" … }`. Only "file" is supported. The sink's directory must exist and be
  # writable; this is checked before the first login.
  sink "file" {
    config {
      # The file the token is written to. Required.
      path = "/run/vaultward/token"

      # The file's mode, in octal with a leading zero (0640) or as a string ("0640"). A decimal
      # number such as 640 is an error. The mode is set exactly: the umask does not narrow it.
      # Default: 0640.
      mode = 0640

      # The token file's owner and group, as numbers or names (OpenBao's `uid`/`gid`; Vault's
      # `owner`/`group` mean the same). Default: unset (the agent's own user and group).
      # uid = 65534
      # gid = 65534
    }
  }

  # A second sink, for a client that gets the token wrapped and encrypted.
  sink "file" {
    # Write a response-wrapping token (its wrap-info JSON) instead of the token, made with
    # sys/wrapping/wrap for each new token. Default: unset.
    wrap_ttl = "5m"

    # Encrypt what is written for the client whose curve25519 public key is in `dh_path`
    # (JSON: {"curve25519_public_key": "<base64>"}), in Vault Agent's envelope format.
    # Default: unset. `dh_path` is required with `dh_type`.
    dh_type = "curve25519"
    dh_path = "/run/app/dh-public-key.json"

    # Use HKDF-SHA256 of the shared secret and both public keys as the AES key. Default: false.
    derive_key = true

    # AES-GCM additional data, or the environment variable holding it (one of the two).
    # Default: unset.
    aad = "app-42"
    # aad_env_var = "APP_SINK_AAD"

    config {
      path = "/run/app/token.enc"
      mode = 0600
    }
  }
}

# A template rendered to a file. Repeatable; each block is rendered independently.
# Two languages are understood (see the README, Templates):
# - Go templates in consul-template's syntax, as Vault Agent renders them (the second template
#   below): {{ with secret "secret/data/app/config" }}{{ .Data.data.password }}{{ end }}
# - Handlebars, with vaultward's helpers (this one):
#     {{#with (secret "secret/data/app/config")}}…{{/with}}  the whole response of GET <path>
#     {{kv "secret/app/config" "password"}}                    one key of a KV v1 or v2 secret
#     {{concat "secret/data/" name}}                           join strings, to compute paths
# Output is not HTML-escaped in either.
template {
  # The template text, inline. Exactly one of `contents` and `source` is required.
  # `source = "/etc/vault/templates/app.env.hbs"` reads the template from a file instead; that
  # file must be readable when the agent starts (and when `vaultward validate` runs).
  # `<<-EOT` removes the indentation of the closing `EOT` line from every line, as Vault
  # Agent's HCL1 does (not HCL2's "smallest indentation"): indent the text as far as `EOT`.
  contents = <<-EOT
  {{#with (secret "secret/data/app/config")}}
  DB_USER={{data.data.username}}
  DB_PASSWORD={{data.data.password}}
  {{/with}}
  API_KEY={{kv "secret/app/api" "key"}}
  EOT

  # The file the template renders into. Required. Written atomically, and only when the
  # rendered text (or the mode) changed.
  destination = "/run/vaultward/app.env"

  # The destination's mode, in octal as for a sink's mode, applied on every write.
  # Default: unset, as in Vault Agent: a destination that already exists keeps its mode, a new
  # one gets 0644.
  perms = 0644

  # The destination's owner and group: names (looked up in /etc/passwd and /etc/group) or
  # numbers; `uid`/`gid` mean the same. An unknown name is an error before the login.
  # Default: unset (the agent's own user and group).
  # user  = "nginx"
  # group = "nginx"

  # Create missing parent directories of the destination (mode 0755).
  # Default: true.
  create_dest_dirs = true

  # Make a missing key an error instead of rendering it as an empty string (Handlebars) or
  # `<no value>` (Go).
  # Default: false.
  error_on_missing_key = false

  # The template's language: "go" (consul-template's syntax, as Vault Agent uses), "handlebars",
  # or "auto": a `source` named *.ctmpl is Go and *.hbs is Handlebars; otherwise Handlebars
  # tags ({{#…}}, {{/…}}, {{!…}}) or the `kv`/`concat` helpers mean Handlebars, anything else Go.
  # Default: template_config.engine, whose default is "auto".
  engine = "handlebars"

  # A command to run after the destination changed (never when the output was unchanged);
  # with exit_after_auth it runs before the exit. A list runs the program directly; a string
  # runs with `sh -c`. Commands run one at a time (in the long-running agent in the
  # background); the same command asked for by several templates in one pass runs once. A
  # failing command is logged. `exec` is the preferred spelling; the older
  # `command = "…"` + `command_timeout = "30s"` pair (see the next template) is the same.
  # Default: unset (no command).
  exec {
    # The command. Required in an `exec` block.
    command = ["/usr/bin/systemctl", "reload", "myapp.service"]

    # How long the command may run before it is killed.
    # Default: "30s".
    timeout = "30s"
  }
}

# A second template, to show the older spelling of a command. `command` and `exec` cannot be
# used in the same template.
# This one is a Go template, as in a Vault Agent config (the syntax is detected).
template {
  contents    = "{{ with secret \"secret/data/app/tls\" }}{{ .Data.data.certificate }}{{ end }}"
  destination = "/run/vaultward/tls.crt"

  # A string runs with `sh -c`; a list runs directly. Default: unset.
  command = "pkill -HUP -x myapp"

  # How long `command` may run before it is killed. Default: "30s".
  command_timeout = "30s"
}

# Settings for all templates. Optional, at most once.
template_config {
  # In the long-running agent: exit with code 1 when a template still cannot be rendered
  # after vault.retry.num_retries retries (a missing secret, a refused read, a missing key;
  # with the method's backoff), instead of retrying it for ever. A mistake in the template
  # exits at once.
  # With exit_after_auth a failing template ends the run with exit code 1 either way.
  # Default: false.
  exit_on_retry_failure = false

  # How often the long-running agent reads a secret without a lease (KV) again; each read is
  # due at a random 85-100 % of this interval, so agents started together spread out. Only
  # the templates using a changed secret are rendered again, and a file is rewritten (and its
  # command run) only when its output changed. Secrets with a lease follow the lease instead:
  # renewable ones are renewed at about two thirds of it, others read again at about 90 %.
  # Must be greater than zero.
  # Default: "5m".
  static_secret_render_interval = "5m"

  # The language of templates that do not set `engine`: "auto", "go" or "handlebars".
  # Default: "auto".
  engine = "auto"
}
