vault {
  address         = "https://10.0.0.5:8200"
  tls_server_name = "https://vault.example.com"
}
auto_auth {
  method "token_file" {
    config { token_file_path = "/etc/vault/token" }
  }
  sink "file" {
    config { path = "/var/run/vault/token" }
  }
}
