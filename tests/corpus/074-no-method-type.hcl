auto_auth {
  method {
    config { role_id_file_path = "/r" }
  }
  sink "file" { config { path = "/t" } }
}
