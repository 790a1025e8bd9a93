print("vae-render: not yet")
