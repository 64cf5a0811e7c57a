# vaultward as a systemd service (see vaultward.service next to this file), in HCL2 block style.
# Logs in with AppRole, keeps the token renewed and re-logs in before it expires, writes it to a
# sink for other local services, and keeps an env file rendered from a KV v2 secret up to date.
#
# /run/vaultward is the unit's RuntimeDirectory: systemd creates it for the vaultward user at
# start and removes it (token and rendered file included) at stop.

pid_file = "/run/vaultward/vaultward.pid"

vault {
  address = "https://vault.example.com:8200"
  ca_cert = "/etc/vaultward/ca.pem"
}

auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "/etc/vaultward/approle/role-id"
      secret_id_file_path = "/etc/vaultward/approle/secret-id"
      # Default: the secret_id file is removed after the first successful login; later logins
      # use the value kept in memory. The unit makes this directory writable for that.
      remove_secret_id_file_after_reading = true
    }
  }

  sink "file" {
    config {
      path = "/run/vaultward/token"
      mode = 0640
    }
  }
}

template {
  destination = "/run/vaultward/app.env"
  perms       = 0640
  # `<<-` removes the indentation of the closing `EOT` line from every line (as Vault Agent's
  # HCL1 does), so the text is indented exactly as far as `EOT`.
  contents    = <<-EOT
  {{ with secret "secret/data/app/config" -}}
  DB_USER={{ .Data.data.username }}
  DB_PASSWORD={{ .Data.data.password }}
  {{ end -}}
  EOT
}

template_config {
  static_secret_render_interval = "5m"
}
