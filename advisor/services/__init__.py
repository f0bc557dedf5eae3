"""Write-side operations of the advisor layer, including the flows that cross domains."""
