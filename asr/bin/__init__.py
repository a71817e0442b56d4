"""One module per ``asr`` subcommand, each with add_arguments(parser) and main(args)."""
