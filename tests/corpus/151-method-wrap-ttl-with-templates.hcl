auto_auth {
  method "approle" {
    wrap_ttl = "2m"
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
  contents = "{{ with secret \"secret/data/app\" }}{{ .Data.data.k }}{{ end }}"
  destination = "/x"
}
