// Bit inversion (a test-only kind): every bit of the stream flipped, one word per cycle.
module bnncc_invert #(parameter PE = 1, parameter BITS = 1, parameter WORDS = 1) (
    input wire clk, input wire rst,
    input wire [PE*BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [PE*BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    reg out_valid_r;
    reg [PE*BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    assign in_ready = !stall;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    always @(posedge clk) begin
        if (rst) out_valid_r <= 0;
        else if (!stall) begin
            out_valid_r <= in_valid;
            if (in_valid) out_r <= ~in_data;
        end
    end
endmodule
