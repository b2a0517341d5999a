// Constant memory with a registered read: STYLE "block" or "distributed" puts it in block RAM or in
// LUTs whatever its size (the ram_style of a folding), "auto" leaves the choice to the synthesizer.
// A ROM in LUTs is logic to Yosys (its distributed RAMs need a write port), hence logic_block.
module bnncc_rom #(
    parameter WIDTH = 1, parameter DEPTH = 1, parameter FILE = "rom.mem", parameter STYLE = "auto") (
    input wire clk, input wire en, input wire [$clog2(DEPTH > 1 ? DEPTH : 2)-1:0] addr,
    output reg [WIDTH-1:0] data);
    generate
        if (STYLE == "block") begin : block_ram
            (* rom_style = "block" *) reg [WIDTH-1:0] mem [0:DEPTH-1];
            initial $readmemh(FILE, mem);
            always @(posedge clk) if (en) data <= mem[addr];
        end else if (STYLE == "distributed") begin : lut_ram
            (* logic_block *) reg [WIDTH-1:0] mem [0:DEPTH-1];
            initial $readmemh(FILE, mem);
            always @(posedge clk) if (en) data <= mem[addr];
        end else begin : any_ram
            reg [WIDTH-1:0] mem [0:DEPTH-1];
            initial $readmemh(FILE, mem);
            always @(posedge clk) if (en) data <= mem[addr];
        end
    endgenerate
endmodule
