auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "/etc/vault/roleid"
      secret_id_file_path = "/etc/vault/secretid"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
template {
  contents    = <<EOT
{{ with secret "secret/data/app" }}
user={{ .Data.data.user }}
password={{ .data.password }}
{{ end }}
EOT
  destination = "/etc/app/app.env"
}
