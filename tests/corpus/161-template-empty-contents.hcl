auto_auth {
  method "approle" {
    config {
      role_id_file_path   = "/etc/vault/role-id"
      secret_id_file_path = "/etc/vault/secret-id"
    }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
template {
  contents    = <<EOT
EOT
  destination = "/etc/app/config.txt"
}
