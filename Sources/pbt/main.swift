print("pbt")
