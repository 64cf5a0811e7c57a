auto_auth {
  method "jwt" {
    mount_path = "auth/oidc"
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
