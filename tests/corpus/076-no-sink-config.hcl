auto_auth {
  method "approle" {
    config { role_id_file_path = "/r" }
  }
  sink "file" {}
}
