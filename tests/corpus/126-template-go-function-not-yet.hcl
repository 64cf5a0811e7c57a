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
  contents = "{{ with pkiCert \"pki/issue/web\" \"common_name=web.example.com\" }}{{ .Cert }}{{ end }}"
  destination = "/x"
}
