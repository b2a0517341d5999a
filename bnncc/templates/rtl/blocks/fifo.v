// Synchronous FIFO, DEPTH words (any depth >= 2). Ready and valid come from registers only, so
// FIFOs break every combinational path between blocks.
module bnncc_fifo #(parameter WIDTH = 8, parameter DEPTH = 2) (
    input wire clk, input wire rst,
    input wire [WIDTH-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [WIDTH-1:0] out_data, output wire out_valid, input wire out_ready);
    localparam AW = DEPTH > 1 ? $clog2(DEPTH) : 1;
    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [AW-1:0] rd, wr;
    reg [AW:0] count;
    wire push = in_valid && in_ready;
    wire pop = out_valid && out_ready;
    assign in_ready = count != DEPTH;
    assign out_valid = count != 0;
    assign out_data = mem[rd];
    always @(posedge clk) begin
        if (rst) begin
            rd <= 0; wr <= 0; count <= 0;
        end else begin
            if (push) begin
                mem[wr] <= in_data;
                wr <= (wr == DEPTH - 1) ? 0 : wr + 1;
            end
            if (pop) rd <= (rd == DEPTH - 1) ? 0 : rd + 1;
            count <= count + push - pop;
        end
    end
endmodule
