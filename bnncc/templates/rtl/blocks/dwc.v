// Data-width converter: IN lanes per input word -> OUT lanes per output word, G = gcd lanes per
// cycle.
module bnncc_dwc #(parameter IN = 1, parameter OUT = 1, parameter BITS = 1, parameter G = 1) (
    input wire clk, input wire rst,
    input wire [IN*BITS-1:0] in_data, input wire in_valid, output wire in_ready,
    output wire [OUT*BITS-1:0] out_data, output wire out_valid, input wire out_ready);
    reg [$clog2(IN + 1)-1:0] in_pos;
    reg [$clog2(OUT + 1)-1:0] out_pos;
    reg [OUT*BITS-1:0] acc;
    reg out_valid_r;
    reg [OUT*BITS-1:0] out_r;
    wire stall = out_valid_r && !out_ready;
    // consume the input word with its last group
    assign in_ready = !stall && in_pos + G == IN;
    assign out_valid = out_valid_r;
    assign out_data = out_r;
    wire [G*BITS-1:0] group = in_data[in_pos*BITS +: G*BITS];
    reg [OUT*BITS-1:0] filled;
    always @* begin
        filled = acc;
        filled[out_pos*BITS +: G*BITS] = group;
    end
    always @(posedge clk) begin
        if (rst) begin
            in_pos <= 0; out_pos <= 0; out_valid_r <= 0;
        end else if (!stall) begin
            out_valid_r <= in_valid && out_pos + G == OUT;
            if (in_valid) begin
                acc <= filled;
                if (out_pos + G == OUT) out_r <= filled;
                in_pos <= (in_pos + G == IN) ? 0 : in_pos + G;
                out_pos <= (out_pos + G == OUT) ? 0 : out_pos + G;
            end
        end
    end
endmodule
