"""JK BMS "4E 57" UART source (placeholder until the plugin lands)."""
